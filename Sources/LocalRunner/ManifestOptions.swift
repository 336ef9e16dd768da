import ArgumentParser
import Foundation

/// `--manifest`, shared by the commands that read `functions.yaml`.
struct ManifestOptions: ParsableArguments {
    @Option(help: "The functions manifest (default: $WXAUTH_MANIFEST, else ./functions.yaml).")
    var manifest: String?

    /// The manifest file this run uses.
    func url(environment: [String: String]) -> URL {
        let path = manifest ?? environment["WXAUTH_MANIFEST"].flatMap { $0.isEmpty ? nil : $0 } ?? "functions.yaml"
        return URL(fileURLWithPath: path)
    }

    /// Loads the manifest, or explains on stderr why not and exits with status 2.
    func load(environment: [String: String]) throws -> Manifest {
        do {
            return try Manifest.load(from: url(environment: environment), environment: environment)
        } catch {
            Console.error("local-runner: \(error)")
            throw ExitCode(2)
        }
    }
}
