import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
@testable import LocalRunner

/// A Lambda Runtime API (2018-06-01) on a loopback port: hands out queued events and records what the
/// function posts back, as Lambda's own runtime interface would.
final class RuntimeAPIEmulator: Sendable {
    struct Posted: Sendable {
        var requestId: String?
        var kind: String
        var body: String
        var errorTypeHeader: String?
    }

    let port: Int
    private let feed: Feed
    private let posted: AsyncStream<Posted>
    private let server: ListeningApplication

    /// Events queued for `invocation/next`: (request id, event JSON, deadline in epoch ms).
    init() async throws {
        let (posted, record) = AsyncStream.makeStream(of: Posted.self)
        let feed = Feed()
        let router = Router()
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
                        requestId: context.parameters.get("id"), kind: kind, body: String(buffer: body),
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
        // Stopped gracefully (ListeningApplication), never cancelled: cancelling the server while a long-poll
        // `next` is answering crashes in NIO ("Deinited NIOAsyncWriter without calling finish()").
        server = try await ListeningApplication.start(name: "runtime API emulator", logger: Logger(label: "runtime-api-emulator")) {
            Application(
                router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                onServerRunning: $0, logger: Logger(label: "runtime-api-emulator")
            )
        }
        port = server.port
        self.feed = feed
        self.posted = posted
    }

    var address: String { "127.0.0.1:\(port)" }

    /// Hands queued events to long-polling `next` calls, one at a time.
    actor Feed {
        typealias Event = (String, String, Int64)
        private var buffer: [Event] = []
        private var waiters: [CheckedContinuation<Event?, Never>] = []
        private var finished = false

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
