import ArgumentParser
import Foundation

/// `local-runner package`: one Lambda zip (a static, stripped `bootstrap`) per function and a SAM template.
struct PackageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "package",
        abstract: "Build DIR/FUNCTION.zip (static, stripped bootstrap) and DIR/template.yaml (AWS SAM).",
        discussion: """
            Builds each function with `swift build -c release --static-swift-stdlib --product HANDLER` in the \
            manifest's directory, strips the executable, and zips it as `bootstrap` (executable bit kept): the \
            zip's only file, which opens SQLite and PostgreSQL alike. --database (both, postgres, sqlite) is \
            accepted for older scripts and changes nothing.

            The template (runtime provided.al2023, HttpApi events from the routes) takes every *SECRET \
            variable as a NoEcho parameter and leaves out *_FILE variables and values that come out empty. \
            Deploy with: cd DIR && sam deploy --guided

            --platform scf packages for Tencent Cloud SCF instead: the same zips (SCF's custom runtime also runs \
            `bootstrap`) and DIR/serverless.yml for Serverless Cloud Framework, one `component: scf` event \
            function per function with a Function URL, every secret and setting as a ${env:VAR} reference.
            """
    )

    @Argument(help: "Functions to package (default: every function of the manifest).")
    var functions: [String] = []

    @Option(name: .shortAndLong, help: "The directory for the zips and template.yaml.")
    var output: String = "dist"

    @OptionGroup var manifestOptions: ManifestOptions

    @Flag(name: .customLong("no-build"), help: "Package the existing .build/release executables without building.")
    var noBuild = false

    @Flag(help: "Write only template.yaml: no build, no zips.")
    var templateOnly = false

    @Option(help: "Accepted for older scripts; every zip serves SQLite and PostgreSQL alike (both, postgres, sqlite).")
    var database: Packager.Database = .both

    @Option(help: "Where the zips run: lambda (AWS, template.yaml) or scf (Tencent Cloud, serverless.yml).")
    var platform: Packager.Platform = .lambda

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let manifestURL = manifestOptions.url(environment: environment).standardizedFileURL
        let outputURL = URL(fileURLWithPath: output).standardizedFileURL
        do {
            let manifest = try Manifest.load(from: manifestURL, environment: [:])
            let unknown = functions.filter { manifest.function(named: $0) == nil }
            if !unknown.isEmpty {
                Console.error(
                    "local-runner package: no function \(unknown.map { "'\($0)'" }.joined(separator: ", ")) in "
                        + "\(manifestURL.path) (known: \(manifest.functionNames.joined(separator: ", ")))"
                )
                throw ExitCode(2)
            }
            let report = try Packager(
                manifest: manifestURL,
                functions: functions,
                output: outputURL,
                build: !noBuild && !templateOnly,
                zips: !templateOnly,
                database: database,
                platform: platform
            ).run()
            for line in report { Console.out(line) }
        } catch let error as ManifestError {
            Console.error("local-runner: \(error)")
            throw ExitCode(2)
        } catch let error as PackageError {
            Console.error("local-runner package: \(error)")
            throw ExitCode(1)
        }
    }
}

/// The work of `package`, separate from argument parsing so tests can run it.
struct Packager {
    var manifest: URL
    var functions: [String]
    var output: URL
    var build: Bool
    var zips: Bool
    /// Accepted for older scripts: every zip holds the one `bootstrap`, whatever the database.
    var database: Database = .both
    /// Which platform's deployment file goes beside the zips.
    var platform: Platform = .lambda
    /// Where the executables are taken from; `.build/release` beside the manifest when nil.
    var binaries: URL? = nil
    /// Progress lines (stderr by default).
    var progress: (String) -> Void = { Console.error($0) }

    /// The databases a zip is meant for. Every function binary opens both in-process now, so the zips are
    /// the same for each; the option stays so that scripts passing it keep working.
    enum Database: String, CaseIterable, ExpressibleByArgument {
        case both, postgres, sqlite
    }

    /// The platforms `package` writes for; their custom runtimes both run the zip's `bootstrap`.
    enum Platform: String, CaseIterable, ExpressibleByArgument {
        /// AWS Lambda, `provided.al2023`, with `template.yaml` (AWS SAM).
        case lambda
        /// Tencent Cloud SCF, `CustomRuntime`, with `serverless.yml` (Serverless Cloud Framework).
        case scf
    }

    /// What goes into a function's zip: (executable in the build directory, name in the zip).
    func entries(for handler: String) -> [(executable: String, name: String)] {
        [(handler, "bootstrap")]
    }

    /// The package root: the manifest's directory.
    var root: URL { manifest.deletingLastPathComponent() }

    /// Packages and returns the summary lines (each zip with its size, then the template).
    func run() throws -> [String] {
        var template = try SAMTemplate(manifestAt: manifest, functions: functions)
        let text: String
        switch platform {
        case .lambda:
            text = template.render()
            for warning in template.warnings { progress("warning: \(warning)") }
        case .scf:
            var configuration = SCFTemplate(template)
            text = configuration.render()
            for warning in configuration.warnings { progress("warning: \(warning)") }
        }
        do {
            try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        } catch {
            throw PackageError("cannot create \(output.path): \(error.localizedDescription)")
        }
        var summary: [String] = []
        if zips {
            let handlers = template.functions.flatMap { entries(for: $0.spec.handler).map(\.executable) }
                .reduce(into: [String]()) { list, handler in
                    if !list.contains(handler) { list.append(handler) }
                }
            if build {
                for (index, handler) in handlers.enumerated() {
                    progress(
                        "[\(index + 1)/\(handlers.count)] building \(handler) (swift build -c release --static-swift-stdlib)…"
                    )
                    let started = Date()
                    let result = try Self.execute(
                        ["swift", "build", "-c", "release", "--static-swift-stdlib", "--product", handler],
                        in: root
                    )
                    guard result.status == 0 else {
                        progress(result.output)
                        throw PackageError("building \(handler) failed (exit status \(result.status))")
                    }
                    progress("      built \(handler) in \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
                }
            }
            let binaries = self.binaries ?? root.appendingPathComponent(".build/release", isDirectory: true)
            for function in template.functions {
                let zip = try packageFunction(function.spec, binaries: binaries)
                summary.append(Self.sizeLine(zip))
            }
        }
        let templateURL = output.appendingPathComponent(platform == .lambda ? "template.yaml" : "serverless.yml")
        do {
            try Data(text.utf8).write(to: templateURL, options: .atomic)
        } catch {
            throw PackageError("cannot write \(templateURL.path): \(error.localizedDescription)")
        }
        switch platform {
        case .lambda:
            summary.append(
                "\(Self.display(templateURL))  (AWS SAM; deploy: cd \(Self.display(output)) && sam deploy --guided)"
            )
        case .scf:
            summary.append("\(Self.display(templateURL))  (Serverless Cloud Framework; see README: Tencent Cloud SCF)")
        }
        return summary
    }

    /// Copies, strips and zips one function's executables (``entries(for:)``); returns the zip.
    func packageFunction(_ spec: FunctionSpec, binaries: URL) throws -> URL {
        let fileManager = FileManager.default
        let staging = fileManager.temporaryDirectory
            .appendingPathComponent("local-runner-package-\(UUID().uuidString)", isDirectory: true)
        try fileManager.createDirectory(at: staging, withIntermediateDirectories: true)
        defer { try? fileManager.removeItem(at: staging) }
        progress("packaging \(spec.name): strip + zip")
        let staged = try entries(for: spec.handler).map {
            try stage($0.executable, as: $0.name, from: binaries, in: staging)
        }
        let zip = output.appendingPathComponent(spec.name + ".zip")
        try? fileManager.removeItem(at: zip)
        let zipped = try Self.execute(["zip", "-q", "-j", "-X", zip.path] + staged.map(\.path), in: staging)
        guard zipped.status == 0 else { throw PackageError("zip failed for \(spec.name): \(zipped.output)") }
        return zip
    }

    /// Copies an executable into the staging directory under `name`, stripped and executable.
    private func stage(_ executableName: String, as name: String, from binaries: URL, in staging: URL) throws -> URL {
        let fileManager = FileManager.default
        let executable = binaries.appendingPathComponent(executableName)
        guard fileManager.isExecutableFile(atPath: executable.path) else {
            throw PackageError("\(executable.path) is missing; build it or drop --no-build")
        }
        let staged = staging.appendingPathComponent(name)
        do {
            try fileManager.copyItem(at: executable, to: staged)
        } catch {
            throw PackageError("cannot copy \(executable.path): \(error.localizedDescription)")
        }
        let strip = try Self.execute(["strip", staged.path], in: staging)
        guard strip.status == 0 else { throw PackageError("strip failed for \(executableName): \(strip.output)") }
        try fileManager.setAttributes([.posixPermissions: 0o755], ofItemAtPath: staged.path)
        return staged
    }

    /// `dist/login.zip  7.9 MB`.
    static func sizeLine(_ zip: URL) -> String {
        let bytes = (try? FileManager.default.attributesOfItem(atPath: zip.path)[.size] as? Int) ?? 0
        let size =
            bytes >= 1_048_576
            ? String(format: "%.1f MB", Double(bytes) / 1_048_576) : String(format: "%.1f KB", Double(bytes) / 1024)
        return "\(display(zip))  \(size)"
    }

    /// A path relative to the current directory when it is below it.
    static func display(_ url: URL) -> String {
        let current = FileManager.default.currentDirectoryPath
        let path = url.path
        return path.hasPrefix(current + "/") ? String(path.dropFirst(current.count + 1)) : path
    }

    /// Runs a command found on PATH; stdout and stderr together.
    static func execute(_ arguments: [String], in directory: URL) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.currentDirectoryURL = directory
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("local-runner-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw PackageError("cannot run \(arguments[0]): \(error.localizedDescription)")
        }
        process.waitUntilExit()
        try? handle.close()
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        return (process.terminationStatus, output)
    }
}
