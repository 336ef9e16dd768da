import FunctionRuntime

extension HarnessSettings {
    /// wxauth's names for the harness's settings: `WXAUTH_LOG_LEVEL` (over Lambda's `AWS_LAMBDA_LOG_LEVEL`) and
    /// `WXAUTH_FUNCTION_TIMEOUT`, which ``Config`` also reads and refuses when out of range.
    public static let wxauth = HarnessSettings(
        logLevelVariables: ["WXAUTH_LOG_LEVEL", "AWS_LAMBDA_LOG_LEVEL"],
        timeoutVariable: "WXAUTH_FUNCTION_TIMEOUT"
    )
}
