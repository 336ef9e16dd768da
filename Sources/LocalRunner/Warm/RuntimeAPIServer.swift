import Foundation
import GatewayHTTP
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// What a warm instance did with one invocation.
enum RuntimeAnswer: Sendable, Equatable {
    /// It posted `/response`: the function's response payload.
    case response([UInt8])
    /// It posted `/error`: Lambda's `{"errorType", "errorMessage"}` body and the error-type header.
    case functionError(type: String?, body: [UInt8])
    /// It posted `/init/error` (for instance a missing setting) instead of asking for the event.
    case initError([UInt8])
    /// The process ended before answering.
    case exited
    /// The deadline passed first.
    case timedOut
}

/// The Lambda Runtime API (version 2018-06-01) for one warm function process, on a loopback port:
/// `serve --warm` hands each invocation to the process this way, as Lambda's own runtime interface does.
///
/// One instance runs one invocation at a time, as on Lambda; the process long-polls `invocation/next`.
final class RuntimeAPIServer: Sendable {
    /// `127.0.0.1:PORT`, the value of `AWS_LAMBDA_RUNTIME_API` for the process.
    let address: String

    private let mailbox: RuntimeMailbox
    private let application: ListeningApplication

    private init(address: String, mailbox: RuntimeMailbox, application: ListeningApplication) {
        self.address = address
        self.mailbox = mailbox
        self.application = application
    }

    /// Starts listening on a port the OS picks.
    static func start(functionName: String) async throws -> RuntimeAPIServer {
        let mailbox = RuntimeMailbox()
        let router = Router()
        let prefix = "/2018-06-01/runtime"
        let arn = "arn:aws:lambda:local:000000000000:function:\(functionName)"
        router.get("\(prefix)/invocation/next") { _, _ -> Response in
            guard let invocation = await mailbox.nextInvocation() else {
                // The instance is being stopped: nothing more will come.
                return Response(status: .gone)
            }
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            headers[Self.header("Lambda-Runtime-Aws-Request-Id")] = invocation.requestID
            headers[Self.header("Lambda-Runtime-Deadline-Ms")] = String(invocation.deadlineEpochMilliseconds)
            headers[Self.header("Lambda-Runtime-Invoked-Function-Arn")] = arn
            headers[Self.header("Lambda-Runtime-Trace-Id")] =
                "Root=1-00000000-\(invocation.requestID.prefix(24));Sampled=0"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: invocation.event)))
        }
        router.post("\(prefix)/invocation/:id/response") { request, context -> Response in
            let body = try await request.body.collect(upTo: GatewayHTTP.maxBodyBytes)
            let id = context.parameters.get("id") ?? ""
            return await mailbox.answer(id: id, with: .response(Array(buffer: body))) ? Self.accepted : Self.unknownID
        }
        router.post("\(prefix)/invocation/:id/error") { request, context -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            let id = context.parameters.get("id") ?? ""
            let type = request.headers[Self.header("Lambda-Runtime-Function-Error-Type")]
            return await mailbox.answer(id: id, with: .functionError(type: type, body: Array(buffer: body)))
                ? Self.accepted : Self.unknownID
        }
        router.post("\(prefix)/init/error") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            await mailbox.initFailed(Array(buffer: body))
            return Self.accepted
        }

        var logger = Logger(label: "local-runner.runtime-api")
        logger.logLevel = .warning
        let application = try await ListeningApplication.start(
            name: "the runtime API for \(functionName)",
            logger: logger
        ) {
            Application(
                router: router,
                configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0), serverName: nil),
                onServerRunning: $0,
                logger: logger
            )
        }
        return RuntimeAPIServer(address: "127.0.0.1:\(application.port)", mailbox: mailbox, application: application)
    }

    /// Hands `event` to the process and waits for its answer, at most until `timeout` has passed.
    func invoke(requestID: String, event: [UInt8], timeout: Duration) async -> RuntimeAnswer {
        let milliseconds = timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000
        let deadline = Int64(Date().timeIntervalSince1970 * 1000) + milliseconds
        let mailbox = self.mailbox
        let timer = Task {
            try await Task.sleep(for: timeout)
            await mailbox.expire(requestID: requestID)
        }
        defer { timer.cancel() }
        return await mailbox.submit(
            RuntimeMailbox.Invocation(requestID: requestID, event: event, deadlineEpochMilliseconds: deadline)
        )
    }

    /// Tells a waiting invocation that the process has ended.
    func processExited() async {
        await mailbox.processExited()
    }

    /// Ends the long poll of the process and stops listening.
    func stop() async {
        await mailbox.close()
        await application.stop()
    }

    private static func header(_ name: String) -> HTTPField.Name { HTTPField.Name(name)! }
    private static let accepted = Response(status: .accepted)
    private static var unknownID: Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        let body = #"{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}"#
        return Response(status: .badRequest, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

/// The one invocation in flight for a warm instance, between the gateway and the process's long poll.
actor RuntimeMailbox {
    struct Invocation: Sendable {
        var requestID: String
        var event: [UInt8]
        var deadlineEpochMilliseconds: Int64
    }

    private var queued: Invocation?
    private var poller: CheckedContinuation<Invocation?, Never>?
    private var waiting: (requestID: String, continuation: CheckedContinuation<RuntimeAnswer, Never>)?
    private var failedInit: [UInt8]?
    private var exited = false
    private var closed = false

    /// The process's `invocation/next`: the next invocation, or nil once the instance is stopped.
    func nextInvocation() async -> Invocation? {
        if let queued {
            self.queued = nil
            return queued
        }
        if closed { return nil }
        return await withCheckedContinuation { continuation in
            poller?.resume(returning: nil)
            poller = continuation
        }
    }

    /// The gateway's side: queue the invocation and wait for the answer.
    func submit(_ invocation: Invocation) async -> RuntimeAnswer {
        if let failedInit { return .initError(failedInit) }
        if exited { return .exited }
        return await withCheckedContinuation { continuation in
            waiting = (invocation.requestID, continuation)
            if let poller {
                self.poller = nil
                poller.resume(returning: invocation)
            } else {
                queued = invocation
            }
        }
    }

    /// A posted `/response` or `/error`; false when no invocation with that id is waiting.
    func answer(id: String, with answer: RuntimeAnswer) -> Bool {
        guard let waiting, waiting.requestID == id else { return false }
        self.waiting = nil
        waiting.continuation.resume(returning: answer)
        return true
    }

    func initFailed(_ body: [UInt8]) {
        failedInit = body
        finishWaiting(with: .initError(body))
    }

    func expire(requestID: String) {
        guard waiting?.requestID == requestID else { return }
        if queued?.requestID == requestID { queued = nil }
        finishWaiting(with: .timedOut)
    }

    func processExited() {
        exited = true
        finishWaiting(with: .exited)
    }

    func close() {
        closed = true
        poller?.resume(returning: nil)
        poller = nil
        finishWaiting(with: .exited)
    }

    private func finishWaiting(with answer: RuntimeAnswer) {
        guard let waiting else { return }
        self.waiting = nil
        waiting.continuation.resume(returning: answer)
    }
}
