import Foundation
import Synchronization

/// One function process kept running between invocations (`serve --warm`): the executable's AWS Lambda
/// runtime loop, fed through its own ``RuntimeAPIServer``.
final class WarmInstance: Sendable {
    let function: FunctionSpec
    private let api: RuntimeAPIServer
    private let process: Task<Result<FunctionProcess.Outcome, FunctionProcess.SpawnError>, Never>
    private let pidBox: PidBox

    private init(
        function: FunctionSpec,
        api: RuntimeAPIServer,
        process: Task<Result<FunctionProcess.Outcome, FunctionProcess.SpawnError>, Never>,
        pidBox: PidBox
    ) {
        self.function = function
        self.api = api
        self.process = process
        self.pidBox = pidBox
    }

    /// Starts the process with `AWS_LAMBDA_RUNTIME_API` pointing at a new runtime API; its stderr goes to `stderr`.
    static func start(
        function: FunctionSpec,
        executable: URL,
        environment: [String: String],
        stderr: @escaping @Sendable ([UInt8]) -> Void
    ) async throws -> WarmInstance {
        let api = try await RuntimeAPIServer.start(functionName: function.name)
        var environment = environment
        environment["AWS_LAMBDA_RUNTIME_API"] = api.address
        environment["AWS_LAMBDA_FUNCTION_NAME"] = function.name
        environment["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = String(function.memory)
        let processSpec = FunctionProcess(
            executable: executable.path,
            environment: environment,
            // The instance lives until it is stopped; each invocation's own deadline is kept by the runtime API.
            timeout: .seconds(365 * 24 * 3600),
            memoryLimitBytes: function.memory * 1_048_576
        )
        let pidBox = PidBox()
        let process = Task {
            let result: Result<FunctionProcess.Outcome, FunctionProcess.SpawnError>
            do throws(FunctionProcess.SpawnError) {
                result = .success(try await processSpec.run(input: [], started: { pidBox.set($0) }, stderr: stderr))
            } catch {
                result = .failure(error)
            }
            await api.processExited()
            return result
        }
        return WarmInstance(function: function, api: api, process: process, pidBox: pidBox)
    }

    /// Runs one invocation; `.timedOut`, `.exited` and `.initError` leave the instance unusable.
    func invoke(requestID: String, event: [UInt8]) async -> RuntimeAnswer {
        await api.invoke(
            requestID: requestID,
            event: event,
            timeout: .milliseconds(Int64((function.timeout * 1000).rounded(.up)))
        )
    }

    /// How the process ended; waits for it, so call it only once the process was seen to end or was stopped.
    var outcome: Result<FunctionProcess.Outcome, FunctionProcess.SpawnError> {
        get async { await process.value }
    }

    /// The process's peak resident memory so far (`VmHWM`), in bytes; 0 when it is not running.
    var peakResidentBytes: Int {
        guard let pid = pidBox.value,
            let status = FileManager.default.contents(atPath: "/proc/\(pid)/status")
        else { return 0 }
        for line in String(decoding: status, as: UTF8.self).split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let kilobytes = line.split(whereSeparator: \.isWhitespace).dropFirst().first.flatMap { Int($0) }
            return (kilobytes ?? 0) * 1024
        }
        return 0
    }

    /// Kills the process group and stops the runtime API; returns once both are gone.
    func stop() async {
        process.cancel()
        _ = await process.value
        await api.stop()
    }
}

/// The pid of a warm instance, set from the spawning thread.
final class PidBox: Sendable {
    private let pid = Mutex<Int32?>(nil)
    func set(_ value: Int32) { pid.withLock { $0 = value } }
    var value: Int32? { pid.withLock { $0 } }
}

/// The warm instances of every function: idle ones are reused, a new one starts when all are busy
/// (the gateway's concurrency limit bounds how many), and a failed one is discarded.
final class WarmPool: Sendable {
    private let idle = Mutex<[String: [WarmInstance]]>([:])
    private let all = Mutex<[ObjectIdentifier: WarmInstance]>([:])

    /// An idle instance of `function`, or a new one.
    func checkout(
        _ function: FunctionSpec,
        executable: URL,
        environment: @autoclosure () -> [String: String],
        stderr: @escaping @Sendable ([UInt8]) -> Void
    ) async throws -> (instance: WarmInstance, started: Bool) {
        if let instance = idle.withLock({ $0[function.name]?.popLast() }) { return (instance, false) }
        let instance = try await WarmInstance.start(
            function: function,
            executable: executable,
            environment: environment(),
            stderr: stderr
        )
        all.withLock { $0[ObjectIdentifier(instance)] = instance }
        return (instance, true)
    }

    /// Returns a healthy instance for reuse.
    func checkin(_ instance: WarmInstance) {
        idle.withLock { $0[instance.function.name, default: []].append(instance) }
    }

    /// Stops an instance that failed (timed out, crashed, failed to initialise).
    func discard(_ instance: WarmInstance) async {
        all.withLock { $0[ObjectIdentifier(instance)] = nil }
        await instance.stop()
    }

    /// Stops every instance.
    func shutdown() async {
        let instances = all.withLock { all in
            defer { all.removeAll() }
            return Array(all.values)
        }
        idle.withLock { $0.removeAll() }
        for instance in instances { await instance.stop() }
    }
}
