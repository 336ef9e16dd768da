import BlockingSocket

/// How to reach and sign in to a server.
package struct PostgresConnectionOptions: Sendable {
    package enum TLSMode: Sendable {
        /// Plain TCP.
        case disable
        /// Ask for TLS; continue in plain text when the server has none (libpq's `allow` and `prefer`).
        case prefer(TLSOptions)
        /// TLS or nothing.
        case require(TLSOptions)
    }

    package var host: String
    package var port: Int
    package var username: String
    package var password: String?
    package var database: String?
    package var tls: TLSMode
    /// Further start-up parameters (`application_name`, run-time settings such as `search_path`).
    package var startupParameters: [(String, String)]

    package init(
        host: String,
        port: Int,
        username: String,
        password: String?,
        database: String?,
        tls: TLSMode,
        startupParameters: [(String, String)] = []
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
        self.startupParameters = startupParameters
    }
}

/// The server refused a statement (or the sign-in): its SQLSTATE and message. The connection stays usable.
package struct PostgresServerError: Error, CustomStringConvertible, Sendable {
    /// The five-character SQLSTATE, e.g. `23505` for a unique violation.
    package var sqlState: String
    /// The server's message. It may quote values, so it is for debugging, not for logs of deployments.
    package var message: String

    package var description: String { "SQLSTATE \(sqlState)" }
}

/// One connection speaking the PostgreSQL v3 protocol, with blocking calls. Each call's socket waits end at
/// ``deadline``: a server that goes silent makes the call fail with a timeout and the connection close.
///
/// Not thread-safe; one thread uses it at a time (``WorkerThread``).
///
/// Errors: ``PostgresServerError`` when the server refused a statement (the connection stays usable);
/// ``SocketError`` or ``PostgresWireError`` when the connection failed, after which ``isClosed`` is true.
package final class PostgresConnection {
    private let socket: BlockingSocket
    private var reader = BackendMessageReader()
    /// When every wait of the current call ends; the caller sets it before each operation.
    package var deadline: ContinuousClock.Instant
    /// The transaction status of the last ReadyForQuery: `I` idle, `T` in a transaction, `E` in a failed one.
    package private(set) var transactionStatus: UInt8 = UInt8(ascii: "I")
    /// Run-time parameters the server reported (`server_version`, `TimeZone`, …).
    package private(set) var parameters: [String: String] = [:]

    /// Connects, negotiates TLS as `options` ask, and signs in, all before `deadline`.
    package init(_ options: PostgresConnectionOptions, deadline: ContinuousClock.Instant) throws {
        self.deadline = deadline
        socket = try BlockingSocket.connect(host: options.host, port: options.port, deadline: deadline)
        do {
            try negotiateTLS(options.tls)
            try startUp(options)
        } catch {
            socket.close()
            throw error
        }
    }

    /// Whether the connection has failed or been closed; it must not be used again.
    package var isClosed: Bool { socket.isClosed }

    /// Says goodbye (Terminate) and closes.
    package func close() {
        guard !socket.isClosed else { return }
        try? socket.write([UInt8(ascii: "X"), 0, 0, 0, 4], deadline: ContinuousClock.now + .milliseconds(100))
        socket.close()
    }

    // MARK: - Start-up

    private func negotiateTLS(_ mode: PostgresConnectionOptions.TLSMode) throws {
        let tls: TLSOptions
        let required: Bool
        switch mode {
        case .disable:
            return
        case .prefer(let options):
            tls = options
            required = false
        case .require(let options):
            tls = options
            required = true
        }
        // SSLRequest: length 8, code 80877103.
        try socket.write([0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x2F], deadline: deadline)
        while reader.pending == 0 { try receive() }
        // The answer is one byte; anything more arrived before TLS and could be injected by a man in the middle.
        guard reader.pending == 1, let answer = reader.nextByte() else {
            throw PostgresWireError("the server answered the TLS request with more than one byte")
        }
        switch answer {
        case UInt8(ascii: "S"):
            try socket.startTLS(tls, deadline: deadline)
        case UInt8(ascii: "N"):
            if required { throw PostgresWireError("the server does not offer TLS") }
        default:
            throw PostgresWireError("the server answered the TLS request with something else")
        }
    }

    private func startUp(_ options: PostgresConnectionOptions) throws {
        var parameters = [("user", options.username)]
        if let database = options.database { parameters.append(("database", database)) }
        parameters += options.startupParameters
        if !parameters.contains(where: { $0.0 == "client_encoding" }) { parameters.append(("client_encoding", "UTF8")) }
        var body: [UInt8] = [0, 3, 0, 0]  // protocol 3.0
        for (name, value) in parameters {
            body.append(contentsOf: name.utf8)
            body.append(0)
            body.append(contentsOf: value.utf8)
            body.append(0)
        }
        body.append(0)
        try socket.write(Self.frame(nil, body), deadline: deadline)

        var scram: SCRAMClient?
        var authenticated = false
        while true {
            let message = try nextMessage()
            var fields = MessageFields(message.body)
            switch message.type {
            case UInt8(ascii: "R"):
                let code = try fields.int32()
                switch code {
                case 0:
                    // A SCRAM exchange must end with the server's proof, before AuthenticationOk.
                    if scram != nil { throw PostgresWireError("the server skipped the end of the SCRAM exchange") }
                    authenticated = true
                case 3:
                    try send(UInt8(ascii: "p"), Array(try password(options).utf8) + [0])
                case 5:
                    let salt = try fields.take(4)
                    let answer = postgresMD5Password(
                        user: options.username,
                        password: try password(options),
                        salt: salt
                    )
                    try send(UInt8(ascii: "p"), Array(answer.utf8) + [0])
                case 10:
                    var mechanisms: [String] = []
                    while true {
                        let name = try fields.cString()
                        if name.isEmpty { break }
                        mechanisms.append(name)
                    }
                    guard mechanisms.contains("SCRAM-SHA-256") else {
                        throw PostgresWireError("the server offers no SASL mechanism this client speaks")
                    }
                    let client = SCRAMClient(password: try password(options))
                    scram = client
                    let first = Array(client.clientFirstMessage.utf8)
                    try send(
                        UInt8(ascii: "p"),
                        Array("SCRAM-SHA-256".utf8) + [0] + Self.int32(Int32(first.count)) + first
                    )
                case 11:
                    guard var client = scram else {
                        throw PostgresWireError("the server continued a SASL exchange never begun")
                    }
                    let answer = try client.clientFinalMessage(
                        serverFirst: String(decoding: fields.rest(), as: UTF8.self)
                    )
                    scram = client
                    try send(UInt8(ascii: "p"), Array(answer.utf8))
                case 12:
                    guard let client = scram else {
                        throw PostgresWireError("the server ended a SASL exchange never begun")
                    }
                    try client.verify(serverFinal: String(decoding: fields.rest(), as: UTF8.self))
                    scram = nil
                default:
                    throw PostgresWireError(
                        "the server asks for an authentication method this client does not speak (\(code))"
                    )
                }
            case UInt8(ascii: "E"):
                throw try Self.serverError(message.body)
            case UInt8(ascii: "S"):
                try noteParameter(message.body)
            case UInt8(ascii: "K"), UInt8(ascii: "N"):
                continue  // backend key data (cancellation, never used); notices
            case UInt8(ascii: "Z"):
                guard authenticated else { throw PostgresWireError("the server was ready before signing in") }
                transactionStatus = try fields.byte()
                return
            default:
                throw PostgresWireError("the server sent an unexpected message while starting")
            }
        }
    }

    private func password(_ options: PostgresConnectionOptions) throws -> String {
        guard let password = options.password else {
            throw PostgresWireError("the server asks for a password, and none is set")
        }
        return password
    }

    // MARK: - Queries

    /// Runs one statement with the extended protocol (Parse, Bind, Describe, Execute, Sync in one write): binary
    /// parameters and results, the unnamed statement and portal.
    @discardableResult
    package func query(_ query: PostgresQuery) throws -> PostgresResult {
        try pipeline([query])[0]
    }

    /// Runs `queries` in order in one round trip: each one's Parse, Bind, Describe and Execute, then a single Sync.
    /// After an error the server skips the rest (up to the Sync) and the error is thrown, so a transaction's
    /// `BEGIN` and its first statements cost one wait for the server instead of one each.
    @discardableResult
    package func pipeline(_ queries: [PostgresQuery]) throws -> [PostgresResult] {
        guard !isClosed else { throw PostgresWireError("the connection is closed") }
        do {
            var messages: [UInt8] = []
            for query in queries { messages += Self.statementMessages(query) }
            messages += Self.frame(UInt8(ascii: "S"), [])
            try socket.write(messages, deadline: deadline)
            return try readResults(count: queries.count)
        } catch let error as PostgresServerError {
            throw error
        } catch {
            socket.close()
            throw error
        }
    }

    /// The messages of one statement with its Sync, ready to write.
    static func extendedQuery(_ query: PostgresQuery) -> [UInt8] {
        statementMessages(query) + frame(UInt8(ascii: "S"), [])
    }

    /// The messages of one statement, without the Sync that ends a round trip.
    static func statementMessages(_ query: PostgresQuery) -> [UInt8] {
        var parse: [UInt8] = [0]
        parse.append(contentsOf: query.sql.utf8)
        parse.append(0)
        parse += int16(Int16(truncatingIfNeeded: query.parameters.count))
        for parameter in query.parameters { parse += int32(Int32(bitPattern: parameter.type)) }
        var bind: [UInt8] = [0, 0] + int16(1) + int16(1)  // portal, statement; every parameter binary
        bind += int16(Int16(truncatingIfNeeded: query.parameters.count))
        for parameter in query.parameters {
            if let bytes = parameter.bytes {
                bind += int32(Int32(truncatingIfNeeded: bytes.count)) + bytes
            } else {
                bind += int32(-1)
            }
        }
        bind += int16(1) + int16(1)  // every result column binary
        return frame(UInt8(ascii: "P"), parse) + frame(UInt8(ascii: "B"), bind)
            + frame(UInt8(ascii: "D"), [UInt8(ascii: "P"), 0])
            + frame(UInt8(ascii: "E"), [0, 0, 0, 0, 0])
    }

    /// The results of `count` statements up to the Sync's ReadyForQuery; the first error instead, once the
    /// connection is ready again.
    private func readResults(count: Int) throws -> [PostgresResult] {
        var results: [PostgresResult] = []
        var types: [UInt32] = []
        var rows: [PostgresRow] = []
        var failure: PostgresServerError?
        // The results are held whole: their rows together are capped like one message.
        var received = 0
        while true {
            let message = try nextMessage()
            switch message.type {
            case UInt8(ascii: "1"), UInt8(ascii: "2"), UInt8(ascii: "n"), UInt8(ascii: "N"), UInt8(ascii: "A"):
                continue  // parse/bind complete, no data, notice, notification
            case UInt8(ascii: "I"):
                // An empty statement: complete, with nothing.
                results.append(PostgresResult(rows: [], affectedRows: 0))
            case UInt8(ascii: "T"):
                types = try parseRowDescription(message.body)
            case UInt8(ascii: "D"):
                received += message.body.count
                guard received <= BackendMessageReader.maximumLength else {
                    throw PostgresWireError("the server sent a result larger than the client accepts")
                }
                let cells = try parseDataRow(message.body)
                guard cells.count == types.count else {
                    throw PostgresWireError("the server sent a row that does not fit its description")
                }
                rows.append(PostgresRow(cells: cells, types: types))
            case UInt8(ascii: "C"):
                var fields = MessageFields(message.body)
                let tag = try fields.cString()
                let affected = tag.split(separator: " ").last.flatMap { Int($0) } ?? 0
                results.append(PostgresResult(rows: rows, affectedRows: affected))
                (types, rows) = ([], [])
            case UInt8(ascii: "S"):
                try noteParameter(message.body)
            case UInt8(ascii: "E"):
                if failure == nil { failure = try Self.serverError(message.body) }
            case UInt8(ascii: "Z"):
                var fields = MessageFields(message.body)
                transactionStatus = try fields.byte()
                if let failure { throw failure }
                guard results.count == count else {
                    throw PostgresWireError("the server answered a different number of statements")
                }
                return results
            default:
                throw PostgresWireError("the server sent an unexpected message")
            }
        }
    }

    // MARK: - Messages

    private func nextMessage() throws -> BackendMessage {
        while true {
            if let message = try reader.next() { return message }
            try receive()
        }
    }

    private func receive() throws {
        try reader.withAppending { (buffer: inout [UInt8]) throws(SocketError) in
            try socket.read(into: &buffer, deadline: deadline)
        }
    }

    private func send(_ type: UInt8, _ body: [UInt8]) throws {
        try socket.write(Self.frame(type, body), deadline: deadline)
    }

    private func noteParameter(_ body: ArraySlice<UInt8>) throws {
        // A server reports a dozen; a stream of new names would only grow memory.
        guard parameters.count < 256 else { throw PostgresWireError("the server reported too many parameters") }
        var fields = MessageFields(body)
        parameters[try fields.cString()] = try fields.cString()
    }

    static func serverError(_ body: ArraySlice<UInt8>) throws -> PostgresServerError {
        let fields = try parseNoticeFields(body)
        return PostgresServerError(
            sqlState: fields[UInt8(ascii: "C")] ?? "?????",
            message: fields[UInt8(ascii: "M")] ?? ""
        )
    }

    /// A frontend message: type byte (none for the start-up message), length, body.
    static func frame(_ type: UInt8?, _ body: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(body.count + 5)
        if let type { bytes.append(type) }
        bytes += int32(Int32(truncatingIfNeeded: body.count + 4))
        bytes += body
        return bytes
    }

    static func int32(_ value: Int32) -> [UInt8] {
        let bits = UInt32(bitPattern: value)
        return [
            UInt8(truncatingIfNeeded: bits >> 24), UInt8(truncatingIfNeeded: bits >> 16),
            UInt8(truncatingIfNeeded: bits >> 8), UInt8(truncatingIfNeeded: bits),
        ]
    }

    static func int16(_ value: Int16) -> [UInt8] {
        let bits = UInt16(bitPattern: value)
        return [UInt8(truncatingIfNeeded: bits >> 8), UInt8(truncatingIfNeeded: bits)]
    }
}
