import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import TestSupport

@testable import LocalRunner

/// A custom-runtime API on a loopback port: hands out queued events and records what the function posts back,
/// as the platform's own runtime interface would. `.lambda` is Lambda's Runtime API (2018-06-01); `.scf` is
/// Tencent SCF's, as cloud.tencent.com/document/product/583/47274 describes it: no version prefix, `POST
/// /runtime/init/ready` before any event, `GET /runtime/invocation/next` answering with `Request_Id`,
/// `Memory_Limit_In_Mb` and `Time_Limit_In_Ms` headers, and `POST /runtime/invocation/response` or
/// `/runtime/invocation/error` for the one invocation in progress (no id in the path).
final class RuntimeAPIEmulator: Sendable {
    enum Platform { case lambda, scf }

    struct Posted: Sendable {
        var requestId: String?
        var kind: String
        var body: String
        var errorTypeHeader: String?

        /// What the function posted, as a proxy response; nil when it is not one.
        var response: ProxyResponse? { try? decodeJSON(from: body) }
    }

    let platform: Platform
    let port: Int
    private let feed: Feed
    private let posted: AsyncStream<Posted>
    private let server: ListeningApplication

    /// Events queued for `invocation/next`: (request id, event JSON, deadline in epoch ms).
    init(platform: Platform = .lambda) async throws {
        let (posted, record) = AsyncStream.makeStream(of: Posted.self)
        let feed = Feed()
        let router = Router()
        if platform == .scf {
            Self.addSCFRoutes(to: router, feed: feed, record: record)
        } else {
            Self.addLambdaRoutes(to: router, feed: feed, record: record)
        }
        // Stopped gracefully (ListeningApplication), never cancelled: cancelling the server while a long-poll
        // `next` is answering crashes in NIO ("Deinited NIOAsyncWriter without calling finish()").
        server = try await ListeningApplication.start(
            name: "runtime API emulator",
            logger: Logger(label: "runtime-api-emulator")
        ) {
            Application(
                router: router,
                configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                onServerRunning: $0,
                logger: Logger(label: "runtime-api-emulator")
            )
        }
        port = server.port
        self.platform = platform
        self.feed = feed
        self.posted = posted
    }

    private static func addLambdaRoutes(
        to router: Router<BasicRequestContext>,
        feed: Feed,
        record: AsyncStream<Posted>.Continuation
    ) {
        router.get("/2018-06-01/runtime/invocation/next") { _, _ -> Response in
            guard let (id, event, deadline) = await feed.next() else { return Response(status: .gone) }
            var headers = HTTPFields()
            headers[HTTPField.Name("Lambda-Runtime-Aws-Request-Id")!] = id
            headers[HTTPField.Name("Lambda-Runtime-Deadline-Ms")!] = String(deadline)
            headers[HTTPField.Name("Lambda-Runtime-Trace-Id")!] = "Root=1-test;Sampled=0"
            headers[.contentType] = "application/json"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: event)))
        }
        for kind in ["response", "error"] {
            router.post("/2018-06-01/runtime/invocation/:id/\(kind)") { request, context -> Response in
                let body = try await request.body.collect(upTo: 8 << 20)
                record.yield(
                    Posted(
                        requestId: context.parameters.get("id"),
                        kind: kind,
                        body: String(buffer: body),
                        errorTypeHeader: request.headers[HTTPField.Name("Lambda-Runtime-Function-Error-Type")!]
                    )
                )
                return Response(status: .accepted)
            }
        }
        router.post("/2018-06-01/runtime/init/error") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            record.yield(Posted(requestId: nil, kind: "init/error", body: String(buffer: body), errorTypeHeader: nil))
            return Response(status: .accepted)
        }
    }

    /// SCF's protocol. An event is handed out only after `init/ready`; a `next` before it, or a response with no
    /// invocation in progress, is recorded as a protocol violation for the test to see.
    private static func addSCFRoutes(
        to router: Router<BasicRequestContext>,
        feed: Feed,
        record: AsyncStream<Posted>.Continuation
    ) {
        router.post("/runtime/init/ready") { request, _ -> Response in
            _ = try await request.body.collect(upTo: 1 << 20)
            await feed.markReady()
            record.yield(Posted(requestId: nil, kind: "ready", body: "", errorTypeHeader: nil))
            return Response(status: .ok)
        }
        router.get("/runtime/invocation/next") { _, _ -> Response in
            guard await feed.isReady else {
                record.yield(
                    Posted(requestId: nil, kind: "violation: next before init/ready", body: "", errorTypeHeader: nil)
                )
                return Response(status: .badRequest)
            }
            guard let (id, event, deadline) = await feed.next() else { return Response(status: .gone) }
            await feed.begin(id)
            let remaining = max(1, deadline - Int64(Date().timeIntervalSince1970 * 1000))
            var headers = HTTPFields()
            headers[HTTPField.Name("Request_Id")!] = id
            headers[HTTPField.Name("Memory_Limit_In_Mb")!] = "128"
            headers[HTTPField.Name("Time_Limit_In_Ms")!] = String(remaining)
            headers[.contentType] = "application/json"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: event)))
        }
        for kind in ["response", "error"] {
            router.post("/runtime/invocation/\(kind)") { request, _ -> Response in
                let body = try await request.body.collect(upTo: 8 << 20)
                guard let id = await feed.end() else {
                    record.yield(
                        Posted(
                            requestId: nil,
                            kind: "violation: \(kind) without an invocation",
                            body: "",
                            errorTypeHeader: nil
                        )
                    )
                    return Response(status: .badRequest)
                }
                record.yield(Posted(requestId: id, kind: kind, body: String(buffer: body), errorTypeHeader: nil))
                return Response(status: .ok)
            }
        }
    }

    var address: String { "127.0.0.1:\(port)" }

    /// What a function needs to find this emulator, as the platform sets it.
    var environment: [String: String] {
        platform == .scf
            ? ["SCF_RUNTIME_API": "127.0.0.1", "SCF_RUNTIME_API_PORT": String(port)]
            : ["AWS_LAMBDA_RUNTIME_API": address]
    }

    /// Starts `executable` as the platform starts a custom runtime's `bootstrap`: with `environment` and this
    /// emulator's address, no stdin, its output discarded. It keeps running, serving events, until it exits or the
    /// caller terminates it.
    func start(_ executable: URL, environment: [String: String]) throws -> Process {
        let process = Process()
        process.executableURL = executable
        process.environment = environment.merging(self.environment) { _, new in new }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// Hands queued events to long-polling `next` calls, one at a time.
    actor Feed {
        typealias Event = (String, String, Int64)
        private var buffer: [Event] = []
        private var waiters: [CheckedContinuation<Event?, Never>] = []
        private var finished = false
        private(set) var isReady = false
        private var current: String?

        func markReady() { isReady = true }

        /// SCF: the invocation in progress, answered by the next response or error.
        func begin(_ id: String) { current = id }

        func end() -> String? {
            defer { current = nil }
            return current
        }

        func push(_ event: Event) {
            if waiters.isEmpty { buffer.append(event) } else { waiters.removeFirst().resume(returning: event) }
        }

        func finish() {
            finished = true
            waiters.forEach { $0.resume(returning: nil) }
            waiters = []
        }

        func next() async -> Event? {
            if !buffer.isEmpty { return buffer.removeFirst() }
            if finished { return nil }
            return await withCheckedContinuation { waiters.append($0) }
        }
    }

    func enqueue(id: String, event: String, deadline: Date = Date().addingTimeInterval(5)) async {
        await feed.push((id, event, Int64(deadline.timeIntervalSince1970 * 1000)))
    }

    /// The next thing the function posted.
    func nextPosted() async -> Posted? {
        var iterator = posted.makeAsyncIterator()
        return await iterator.next()
    }

    /// Answers pending and later `next` polls with 410 Gone, then stops once requests in flight are answered.
    func stop() async {
        await feed.finish()
        await server.stop()
    }
}
