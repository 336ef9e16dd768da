import BlockingSocket
import Foundation
import TestSupport
import Testing

@testable import PostgresWire

/// The client against a scripted server on a loopback port: what a broken or hostile server sends is refused
/// as a protocol error (the connection closed), and the server's own errors come back with their SQLSTATE.
@Suite struct FakeServerTests {
    static func message(_ type: Character, _ body: [UInt8]) -> [UInt8] {
        [UInt8(ascii: type.unicodeScalars.first!)] + PostgresConnection.int32(Int32(body.count + 4)) + body
    }

    static let ready = message("Z", [UInt8(ascii: "I")])
    static let authenticated = message("R", [0, 0, 0, 0]) + ready

    /// How the tests connect to the scripted server on `port`: with a password and a database, without TLS.
    static func options(port: Int) -> PostgresConnectionOptions {
        PostgresConnectionOptions(
            host: "127.0.0.1",
            port: port,
            username: "wx",
            password: "pw",
            database: "db",
            tls: .disable
        )
    }

    /// Connects to a server that answers the start-up with `startUp` and the first query with `answer`, then
    /// runs `SELECT 1`; returns the client's error (nil when the query succeeded) and whether it closed.
    static func run(startUp: [UInt8], answer: [UInt8]) async throws -> (error: (any Error)?, closed: Bool) {
        let server = try ScriptedServer(replies: [startUp, answer])
        let worker = WorkerThread()
        defer { worker.stop() }
        return try await worker.run { () throws -> (error: (any Error)?, closed: Bool) in
            let options = Self.options(port: server.port)
            let connection: PostgresConnection
            do {
                connection = try PostgresConnection(options, deadline: .now + .seconds(5))
            } catch {
                return (error, true)
            }
            do {
                _ = try connection.query("SELECT 1")
                return (nil, connection.isClosed)
            } catch {
                return (error, connection.isClosed)
            }
        }
    }

    /// Runs a two-statement pipeline against a server that answers it with `answer`.
    static func pipeline(
        answer: [UInt8]
    ) async throws -> (results: [PostgresResult]?, error: (any Error)?, closed: Bool) {
        let server = try ScriptedServer(replies: [authenticated, answer])
        let worker = WorkerThread()
        defer { worker.stop() }
        return try await worker.run { () throws -> (results: [PostgresResult]?, error: (any Error)?, closed: Bool) in
            let options = Self.options(port: server.port)
            let connection = try PostgresConnection(options, deadline: .now + .seconds(5))
            do {
                return (
                    try connection.pipeline(["BEGIN", "SELECT set_config('lock_timeout', '1', true)"]), nil,
                    connection.isClosed
                )
            } catch {
                return (nil, error, connection.isClosed)
            }
        }
    }

    static func complete(_ tag: String) -> [UInt8] {
        message("1", []) + message("2", []) + message("n", []) + message("C", Array((tag + "\u{0}").utf8))
    }

    @Test func aPipelineAnswersEveryStatementInOneRoundTrip() async throws {
        let outcome = try await Self.pipeline(
            answer: Self.complete("BEGIN") + Self.complete("SELECT 1") + Self.message("Z", [UInt8(ascii: "T")])
        )
        #expect(outcome.results?.count == 2)
        #expect(outcome.results?.last?.affectedRows == 1)
        #expect(outcome.error == nil && !outcome.closed)
    }

    @Test func aPipelineStopsAtTheFirstErrorAndKeepsTheConnection() async throws {
        let error = Self.message("E", Array("SERROR\u{0}C55P03\u{0}Mlock timeout\u{0}\u{0}".utf8))
        let outcome = try await Self.pipeline(
            answer: Self.complete("BEGIN") + error + Self.message("Z", [UInt8(ascii: "E")])
        )
        #expect((outcome.error as? PostgresServerError)?.sqlState == "55P03")
        #expect(!outcome.closed)
    }

    @Test func aPipelineAnsweredShortIsAProtocolError() async throws {
        let outcome = try await Self.pipeline(answer: Self.complete("BEGIN") + Self.message("Z", [UInt8(ascii: "T")]))
        #expect(outcome.error is PostgresWireError)
    }

    @Test func aServerErrorKeepsItsSQLSTATEAndTheConnection() async throws {
        let error = Self.message("E", Array("SERROR\u{0}C23505\u{0}Mduplicate key\u{0}\u{0}".utf8))
        let outcome = try await Self.run(startUp: Self.authenticated, answer: error + Self.ready)
        #expect((outcome.error as? PostgresServerError)?.sqlState == "23505")
        #expect(!outcome.closed)
    }

    @Test func aRowOfAnImpossibleLengthIsRefusedAndTheConnectionClosed() async throws {
        let hostile: [UInt8] = [UInt8(ascii: "D"), 0x7F, 0xFF, 0xFF, 0xFF]
        let outcome = try await Self.run(startUp: Self.authenticated, answer: hostile)
        #expect(outcome.error is PostgresWireError)
        #expect(outcome.closed)
    }

    @Test func aRowThatDoesNotFitItsDescriptionIsRefused() async throws {
        let description = Self.message(
            "T",
            [0, 1] + Array("a".utf8) + [0] + [UInt8](repeating: 0, count: 6) + [0, 0, 0, 23]
                + [UInt8](repeating: 0, count: 8)
        )
        let row = Self.message("D", [0, 2, 0, 0, 0, 0, 0, 0, 0, 0])
        let outcome = try await Self.run(startUp: Self.authenticated, answer: description + row + Self.ready)
        #expect(outcome.error is PostgresWireError)
        #expect(outcome.closed)
    }

    @Test func aRefusedSignInReportsTheServersSQLSTATE() async throws {
        let refusal = Self.message("E", Array("SFATAL\u{0}C28P01\u{0}Mpassword authentication failed\u{0}\u{0}".utf8))
        let outcome = try await Self.run(startUp: Self.message("R", [0, 0, 0, 3]) + refusal, answer: [])
        #expect((outcome.error as? PostgresServerError)?.sqlState == "28P01")
    }

    @Test func anAuthenticationOkThatSkipsTheSCRAMProofIsRefused() async throws {
        let sasl = Self.message("R", [0, 0, 0, 10] + Array("SCRAM-SHA-256".utf8) + [0, 0])
        let outcome = try await Self.run(startUp: sasl + Self.authenticated, answer: [])
        #expect(outcome.error is PostgresWireError)
    }

    @Test func aServerThatGoesSilentMidQueryTimesOut() async throws {
        let server = try ScriptedServer(replies: [Self.authenticated, []])
        let worker = WorkerThread()
        defer { worker.stop() }
        let (timedOut, closed) = try await worker.run {
            let options = PostgresConnectionOptions(
                host: "127.0.0.1",
                port: server.port,
                username: "wx",
                password: nil,
                database: nil,
                tls: .disable
            )
            let connection = try PostgresConnection(options, deadline: .now + .seconds(5))
            connection.deadline = .now + .milliseconds(200)
            do {
                _ = try connection.query("SELECT 1")
                return (false, connection.isClosed)
            } catch {
                return ((error as? SocketError)?.timedOut == true, connection.isClosed)
            }
        }
        #expect(timedOut && closed)
    }
}

/// A loopback server for one connection: after each message it reads (the start-up, then each query's batch),
/// it writes the next reply; then it waits until the client closes.
final class ScriptedServer: Sendable {
    let port: Int

    init(replies: [[UInt8]]) throws {
        let (listener, port) = try LoopbackSocket.make(backlog: 1)
        self.port = port
        let worker = WorkerThread()
        worker.enqueue {
            defer { close(listener) }
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { return }
            defer { close(connection) }
            var timeout = timeval(tv_sec: 10, tv_usec: 0)
            _ = setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var buffer = [UInt8](repeating: 0, count: 65_536)
            for reply in replies {
                // One read takes the client's whole batch (loopback, small messages).
                guard recv(connection, &buffer, buffer.count, 0) > 0 else { return }
                if !reply.isEmpty {
                    _ = reply.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                }
            }
            while recv(connection, &buffer, buffer.count, 0) > 0 {}
        }
        worker.stop()
    }
}
