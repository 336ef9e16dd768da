import Foundation
import TestSupport
import Testing

/// What the browser test runs: Python, Chromium and the built `local-runner`; `missing` names what is not there.
enum BrowserTools {
    /// `Tests/Browser/demo_in_chromium.py`, beside this file's folder.
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Browser/demo_in_chromium.py")
    static let manifest = script.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("functions.yaml")
    static let runner = EndToEnd.locateExecutables().appendingPathComponent("local-runner")
    static let python = onPath("python3")
    static let chromium =
        ProcessInfo.processInfo.environment["WXAUTH_CHROMIUM"].flatMap { $0.isEmpty ? nil : $0 }
        ?? onPath("chromium")

    /// Why the test cannot run here, or nil when it can.
    static let missing: String? = {
        if chromium == nil {
            return
                "chromium is not installed (apt-get install chromium, or set WXAUTH_CHROMIUM); skipping the browser test"
        }
        if python == nil { return "python3 is not on PATH; skipping the browser test" }
        if !FileManager.default.isExecutableFile(atPath: runner.path) {
            return "local-runner is not built in \(runner.deletingLastPathComponent().path); skipping the browser test"
        }
        return nil
    }()

    static func onPath(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }
}

/// The web sign-in demo of `local-runner dev` in headless Chromium: `Tests/Browser/demo_in_chromium.py`
/// starts `dev --port 0` and drives the browser through the sandbox's consent page (its docstring lists
/// every check). Skipped, naming the tool, when Chromium or Python is missing.
@Suite("Web sign-in demo in Chromium")
struct BrowserDemoTests {
    @Test(
        .enabled(if: BrowserTools.missing == nil, Comment(rawValue: BrowserTools.missing ?? "")),
        .timeLimit(.minutes(3))
    )
    func signsInRefreshesSignsOutAndRefusesATamperedState() async throws {
        let run = try await runChildProcess(
            URL(fileURLWithPath: try #require(BrowserTools.python)),
            arguments: [
                BrowserTools.script.path, "--runner", BrowserTools.runner.path,
                "--manifest", BrowserTools.manifest.path, "--chromium", try #require(BrowserTools.chromium),
            ]
        )
        let text = run.stdout + run.stderr
        #expect(run.status == 0 && text.contains("every check passed"), "\(text)")
    }
}
