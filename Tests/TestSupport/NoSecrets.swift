// Only test builds can import Testing; a plain `swift build -c release` also builds this target and must not fail.
#if canImport(Testing)
import Testing

/// Records a test issue for every secret that appears in any of `outputs` (a process's stdout and stderr, a
/// response body, a log, a generated file): the one check the tests make that nothing secret is ever printed.
///
/// The issue names the secret by its position in `secrets` and its first four characters only, so a failure does
/// not copy the whole secret into the test log; `outputs` are named by position too.
package func assertNoSecrets(
    _ secrets: [String],
    in outputs: String...,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    for (secretIndex, secret) in secrets.enumerated() where !secret.isEmpty {
        for (outputIndex, output) in outputs.enumerated() where output.contains(secret) {
            Issue.record(
                "secret #\(secretIndex) (\(secret.prefix(4))…) appears in output #\(outputIndex)",
                sourceLocation: sourceLocation
            )
        }
    }
}
#endif
