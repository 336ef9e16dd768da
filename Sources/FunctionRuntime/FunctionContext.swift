import Logging

/// What a handler gets beside the request: who it is, its logger and how long it may take.
public struct FunctionContext: Sendable {
    /// The function's name (`login`, `refresh`, …).
    public var functionName: String
    /// A logger carrying the request id.
    public var logger: Logger
    /// When the platform will stop waiting; work that cannot finish by then should give up.
    public var deadline: ContinuousClock.Instant

    public init(functionName: String, logger: Logger, deadline: ContinuousClock.Instant) {
        self.functionName = functionName
        self.logger = logger
        self.deadline = deadline
    }
}
