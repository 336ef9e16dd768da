import AsyncHTTPClient
import Foundation
import LocalRunner
import NIOCore
import NIOHTTP1
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `wxauth-http`: every function behind one HTTP/1.1 server, as SCF web functions, Function Compute and containers
/// run it.
@Suite(.serialized) struct HTTPModeTests {
    /// An HTTP answer: status, headers (repeated ones joined by newlines) and the body.
    struct Reply: Sendable, JSONBodied {
        var status: Int
        var headers: [String: String]
        var body: Data
        var bodyText: String? { String(decoding: body, as: UTF8.self) }
    }

    /// The members of `wxauth-http`'s `listening` log line that say where it listens.
    struct ListeningLine: Decodable {
        var msg: String?
        var message: String?
        var port: String?
    }

    /// A running `wxauth-http` on a port the OS picked, found from its `listening` log line.
    struct Server: Sendable {
        let process: ServingProcess
        let port: Int
        var baseURL: String { "http://127.0.0.1:\(port)" }

        init(_ e2e: EndToEnd, arguments: [String] = [], environment extra: [String: String] = [:]) async throws {
            process = try await ServingProcess.start(
                e2e.executable("wxauth-http"),
                arguments: arguments,
                environment: e2e.environment.merging(["PORT": "0"].merging(extra) { _, new in new }) { _, new in new },
                watching: .standardError,
                until: { Server.listeningPort($0) != nil }
            )
            let lastLine = process.printed.split(separator: "\n").last.map(String.init) ?? ""
            port = try #require(Server.listeningPort(lastLine), "no listening line in \(process.printed)")
        }

        /// The port of a `listening` log line; nil for any other line.
        static func listeningPort(_ line: String) -> Int? {
            guard let entry = try? decodeJSON(ListeningLine.self, from: line),
                entry.msg == "listening" || entry.message == "listening"
            else { return nil }
            return entry.port.flatMap(Int.init)
        }

        /// Stops it with SIGTERM; its exit status.
        func terminate() async -> Int32 {
            await process.stop().status
        }
    }

    static func request(
        _ url: String,
        method: String = "GET",
        body: String? = nil,
        headers: [String: String] = [:]
    ) async throws -> Reply {
        var request = HTTPClientRequest(url: url)
        request.method = .init(rawValue: method)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        var fields: [String: String] = [:]
        for header in response.headers {
            fields[header.name.lowercased()] =
                fields[header.name.lowercased()].map { $0 + "\n" + header.value } ?? header.value
        }
        return Reply(status: Int(response.status.code), headers: fields, body: Data(bytes.readableBytesView))
    }

    @Test func concurrentSignInsAndProfilesAreAllAnswered() async throws {
        try await withEndToEnd { e2e in
            let count = 40
            var codes: [String] = []
            for index in 0..<count { codes.append(try await e2e.mintCode(user: "http\(index)")) }
            let server = try await Server(e2e)
            let started = ContinuousClock.now
            let tokens = try await withThrowingTaskGroup(of: String?.self) { group in
                for code in codes {
                    group.addTask {
                        let answer = try await Self.request(
                            server.baseURL + "/login",
                            method: "POST",
                            body: #"{"code":"\#(code)"}"#
                        )
                        return answer.status == 200 ? try? answer.tokens.access_token : nil
                    }
                }
                return try await group.reduce(into: [String?]()) { $0.append($1) }
            }
            let signIns = ContinuousClock.now - started
            #expect(tokens.count == count && tokens.allSatisfy { $0 != nil }, "every concurrent sign-in succeeded")
            let profiles = try await withThrowingTaskGroup(of: Int.self) { group in
                for token in tokens.compactMap({ $0 }) {
                    group.addTask {
                        try await Self.request(
                            server.baseURL + "/userinfo",
                            headers: ["authorization": "Bearer \(token)"]
                        )
                        .status
                    }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(profiles.count == count && profiles.allSatisfy { $0 == 200 })
            print("wxauth-http: \(count) concurrent sign-ins (sandbox WeChat, SQLite) in \(signIns)")
            #expect(await server.terminate() == 0)
        }
    }

    /// Every route of functions.yaml, with its methods, and nothing else: 404 elsewhere, 405 with `Allow` as
    /// `local-runner serve` answers.
    @Test func routesAreFunctionsYAMLs() async throws {
        try await withEndToEnd { e2e in
            let manifest = try Manifest.load(from: BrowserTools.manifest, environment: [:])
            let server = try await Server(e2e)
            for function in manifest.functions {
                for route in function.routes {
                    let answer = try await Self.request(server.baseURL + route, method: "PATCH")
                    #expect(answer.status == 405, "\(route)")
                    #expect(answer.headers["allow"] == function.methods.sorted().joined(separator: ", "), "\(route)")
                    #expect(try answer.refusal.error == "method_not_allowed")
                    for method in function.methods {
                        let routed = try await Self.request(
                            server.baseURL + route,
                            method: method,
                            body: method == "POST" ? "{}" : nil
                        )
                        #expect(routed.status != 404 && routed.status != 405, "\(method) \(route)")
                    }
                }
            }
            let missing = try await Self.request(server.baseURL + "/nope")
            #expect(missing.status == 404)
            #expect(try missing.refusal.error == "not_found")
            let tooLarge = try await Self.request(
                server.baseURL + "/login",
                method: "POST",
                body: String(repeating: "x", count: 6 * 1024 * 1024 + 1)
            )
            #expect(tooLarge.status == 413)
            #expect(await server.terminate() == 0)
        }
    }

    @Test func servesOnlyTheFunctionsNamed() async throws {
        try await withEndToEnd { e2e in
            let server = try await Server(e2e, arguments: ["userinfo"])
            #expect(try await Self.request(server.baseURL + "/userinfo").status == 401)
            #expect(try await Self.request(server.baseURL + "/login", method: "POST", body: "{}").status == 404)
            #expect(await server.terminate() == 0)
        }
    }

    @Test func sigtermFinishesTheRequestInFlightThenExitsZero() async throws {
        try await withEndToEnd { e2e in
            let code = try await e2e.mintCode(user: "http-slow")
            try await e2e.injectFault(#"{"endpoint":"/sns/jscode2session","delay_ms":800,"times":1}"#)
            let server = try await Server(e2e)
            let slow = Task {
                try await Self.request(server.baseURL + "/login", method: "POST", body: #"{"code":"\#(code)"}"#)
            }
            // The sandbox counts the call when it arrives: from then on the request is in flight.
            while try await e2e.upstreamCalls("/sns/jscode2session") == 0 { await Task.yield() }
            let status = await server.terminate()
            let answer = try await slow.value
            #expect(answer.status == 200)
            #expect(try !answer.tokens.access_token.isEmpty)
            #expect(status == 0)
        }
    }

    /// The stdin function binaries do not link the HTTP server; wxauth-http does.
    @Test func functionBinariesDoNotLinkHummingbird() async throws {
        let bin = EndToEnd.locateExecutables()
        // nm over a large binary takes a while: runChildProcess waits for it on a thread of its own.
        func symbols(_ name: String) async -> Int {
            let nm = try? await runChildProcess(
                URL(fileURLWithPath: "/usr/bin/env"),
                arguments: ["nm", bin.appendingPathComponent(name).path]
            )
            guard let nm else { return -1 }
            return nm.stdout.split(separator: "\n").filter { $0.contains("11Hummingbird") }.count
        }
        // Two function binaries stand for the rest: they are linked alike.
        for function in ["login", "userinfo"] {
            #expect(await symbols(function) == 0, "\(function) links Hummingbird")
        }
        #expect(await symbols("wxauth-http") > 0)
    }
}
