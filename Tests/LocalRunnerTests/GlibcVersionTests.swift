import BlockingSocket
import Foundation
import TestSupport
import Testing

@testable import LocalRunner

/// The oldest glibc a packaged `bootstrap` must run on: AWS Lambda's provided.al2023 (Tencent SCF's images are
/// older still, which only a binary that needs no system glibc serves).
private let oldestGlibc = (major: 2, minor: 34)

private let root = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The built function executables: release (what `package` zips) when built, else debug (what CI builds; the
/// function targets are linked the same way in both).
private let builtFolder: URL? = ["release", "debug"].map {
    root.appendingPathComponent(".build/\($0)", isDirectory: true)
}.first { folder in
    FileManager.default.isExecutableFile(atPath: folder.appendingPathComponent("login").path)
}

/// The glibc symbol versions an ELF file needs (`readelf --version-info`); none for a static executable. Nil when
/// readelf failed.
private func glibcVersionsNeeded(by file: URL) async throws -> [(major: Int, minor: Int, name: String)]? {
    let readelf = try await runChildProcess(env, arguments: ["readelf", "--version-info", "--wide", file.path])
    guard readelf.status == 0 else { return nil }
    return readelf.stdout.matches(of: /GLIBC_(\d+)\.(\d+)(\.\d+)?/).compactMap { match in
        guard let major = Int(match.1), let minor = Int(match.2) else { return nil }
        return (major, minor, String(match.0))
    }
}

/// Runs the tools (readelf, unzip) found on PATH.
private let env = URL(fileURLWithPath: "/usr/bin/env")

/// What was found of one binary.
private struct Finding: Sendable {
    var path: String
    var exists: Bool
    /// Nil when readelf failed; else the versions newer than 2.34.
    var tooNew: [String]?
}

@Suite("packaged binaries run on glibc 2.34")
struct GlibcVersionTests {
    @Test(.enabled(if: builtFolder != nil, "skipped: login is not built (swift build --build-tests builds it)"))
    func noZippedOrBuiltFunctionBinaryNeedsANewerGlibc() async throws {
        let folder = try #require(builtFolder)
        let manifest = root.appendingPathComponent("functions.yaml")
        let functions = try Manifest.load(from: manifest, environment: [:]).functions
        let output = FileManager.default.temporaryDirectory
            .appendingPathComponent("glibc-tests-\(UUID().uuidString)", isDirectory: true)
        defer { try? FileManager.default.removeItem(at: output) }
        // Zipping every binary takes seconds of CPU: on a thread of its own, not a cooperative one (the end-to-end
        // tests' in-process servers share those). Each zip's stripped bootstrap, and every executable as built
        // (wxauth-http runs on SCF web functions, Function Compute and containers).
        try await onOwnThread {
            _ = try Packager(
                manifest: manifest,
                functions: [],
                output: output,
                build: false,
                zips: true,
                database: .sqlite,
                binaries: folder,
                progress: { _ in }
            ).run()
        }
        var files = (functions.map(\.handler) + ["wxauth-http"]).map { folder.appendingPathComponent($0) }
        for function in functions {
            let unpacked = output.appendingPathComponent("unpacked-\(function.name)", isDirectory: true)
            let zip = output.appendingPathComponent("\(function.name).zip")
            let unzip = try await runChildProcess(env, arguments: ["unzip", "-q", zip.path, "-d", unpacked.path])
            #expect(unzip.status == 0, "\(unzip.stderr)")
            files.append(unpacked.appendingPathComponent("bootstrap"))
        }
        var findings: [Finding] = []
        for file in files {
            let exists = FileManager.default.fileExists(atPath: file.path)
            let tooNew =
                exists
                ? try await glibcVersionsNeeded(by: file)?.filter { ($0.major, $0.minor) > oldestGlibc }.map(\.name)
                : []
            findings.append(Finding(path: file.path, exists: exists, tooNew: tooNew))
        }
        #expect(findings.count == functions.count * 2 + 1)
        for finding in findings {
            #expect(finding.exists, "\(finding.path)")
            let tooNew = try #require(finding.tooNew, "readelf failed on \(finding.path)")
            #expect(tooNew.isEmpty, "\(finding.path) needs \(Set(tooNew).sorted()), newer than glibc 2.34")
        }
    }
}
