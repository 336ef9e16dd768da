import BlockingSocket
import Testing

@testable import PostgresWire

@Suite struct SCRAMTests {
    /// RFC 7677 §3: user "user", password "pencil".
    @Test func followsTheRFC7677Example() throws {
        var client = SCRAMClient(user: "user", password: "pencil", nonce: "rOprNGfwEbeRWgbNEkqO")
        #expect(client.clientFirstMessage == "n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
        let final = try client.clientFinalMessage(
            serverFirst: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        )
        #expect(
            final
                == "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        )
        try client.verify(serverFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
        #expect(throws: PostgresWireError.self) {
            try client.verify(serverFinal: "v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
        }
        #expect(throws: PostgresWireError.self) { try client.verify(serverFinal: "e=invalid-proof") }
    }

    @Test(arguments: [
        "r=someoneelse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",  // nonce not extending ours
        "r=abc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",  // nonce equal to ours
        "r=abcdef,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=999999999",  // hostile iteration count
        "r=abcdef,s=***,i=4096",  // bad salt
        "r=abcdef,i=4096",
    ])
    func refusesBadChallenges(serverFirst: String) {
        var client = SCRAMClient(password: "pencil", nonce: "abc")
        #expect(throws: PostgresWireError.self) { _ = try client.clientFinalMessage(serverFirst: serverFirst) }
    }

    @Test func base64RoundTrips() {
        for count in 0..<10 {
            let bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 250) }
            #expect(Base64.decode(Substring(Base64.encode(bytes))) == bytes)
        }
        #expect(Base64.encode(Array("pencil".utf8)) == "cGVuY2ls")
    }
}

@Suite struct MessageTests {
    @Test func md5PasswordMatchesPostgreSQLs() {
        // python: 'md5' + md5(md5(b'hunter2' + b'wxauth').hexdigest().encode() + bytes([1, 2, 3, 4])).hexdigest()
        #expect(
            postgresMD5Password(user: "wxauth", password: "hunter2", salt: [1, 2, 3, 4])
                == "md526e8d839fce1894a75280f6fd841fcbd"
        )
    }

    @Test func cutsMessagesAcrossArbitraryChunks() throws {
        let stream: [UInt8] =
            [UInt8(ascii: "Z"), 0, 0, 0, 5, UInt8(ascii: "I"), UInt8(ascii: "C"), 0, 0, 0, 11] + Array("SELECT".utf8)
            + [0]
        for split in 0...stream.count {
            var reader = BackendMessageReader()
            var messages: [BackendMessage] = []
            reader.append(stream[..<split])
            while let message = try reader.next() { messages.append(message) }
            reader.append(stream[split...])
            while let message = try reader.next() { messages.append(message) }
            #expect(messages.map(\.type) == [UInt8(ascii: "Z"), UInt8(ascii: "C")])
            #expect(messages.last.map { Array($0.body) } == Array("SELECT".utf8) + [0])
            #expect(reader.pending == 0)
        }
    }

    @Test(
        arguments: [[0x7F, 0xFF, 0xFF, 0xFF], [0xFF, 0xFF, 0xFF, 0xFF], [0, 0, 0, 3], [0x04, 0, 0, 1]] as [[UInt8]]
    )
    func refusesImpossibleLengths(length: [UInt8]) {
        var reader = BackendMessageReader()
        reader.append([UInt8(ascii: "D")] + length)
        #expect(throws: PostgresWireError.self) { _ = try reader.next() }
    }

    @Test func parsesRowsAndRefusesLyingLengths() throws {
        let row: [UInt8] = [0, 2, 0, 0, 0, 2, 0x68, 0x69, 0xFF, 0xFF, 0xFF, 0xFF]
        let cells = try parseDataRow(row[...])
        #expect(cells.count == 2 && cells[0].map(Array.init) == [0x68, 0x69] && cells[1] == nil)
        #expect(throws: PostgresWireError.self) { _ = try parseDataRow([0, 1, 0x7F, 0, 0, 0, 1][...]) }
        #expect(throws: PostgresWireError.self) { _ = try parseDataRow([0, 1, 0xFF, 0xFF, 0xFF, 0xFE][...]) }
        #expect(throws: PostgresWireError.self) { _ = try parseDataRow([0xFF, 0xFF][...]) }
        #expect(throws: PostgresWireError.self) { _ = try parseDataRow((row + [0])[...]) }
        let fields = try parseNoticeFields(Array("C23505\u{0}Mduplicate\u{0}\u{0}".utf8)[...])
        #expect(fields[UInt8(ascii: "C")] == "23505" && fields[UInt8(ascii: "M")] == "duplicate")
        #expect(throws: PostgresWireError.self) { _ = try parseNoticeFields(Array("C23505".utf8)[...]) }
    }

    @Test func encodesAndDecodesBinaryValues() throws {
        #expect(Int64(-2).postgresBytes == [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE])
        #expect(try Int64.decode([0xFF, 0xFE][...], type: PostgresType.int2) == -2)
        #expect(try Int64.decode([0, 0, 1, 0][...], type: PostgresType.int4) == 256)
        #expect(throws: PostgresDecodingError.self) { _ = try Int64.decode([0, 1][...], type: PostgresType.int4) }
        #expect(throws: PostgresDecodingError.self) { _ = try String.decode([0, 1][...], type: PostgresType.bytea) }
        #expect(
            ["a", "bc"].postgresBytes == [
                0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 25, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 1, 97, 0, 0, 0, 2, 98, 99,
            ]
        )
        let query: PostgresQuery = "SELECT \(Int64(1)), \(String?.none), \(PostgresBytes([7]))"
        #expect(query.sql == "SELECT $1, $2, $3")
        #expect(
            query.parameters == [
                PostgresParameter(Int64(1)), PostgresParameter(null: PostgresType.text),
                PostgresParameter(PostgresBytes([7])),
            ]
        )
    }

    @Test func framesAnExtendedQuery() {
        let bytes = PostgresConnection.extendedQuery(PostgresQuery(unsafeSQL: "SELECT 1"))
        #expect(bytes.first == UInt8(ascii: "P"))
        #expect(Array(bytes.suffix(5)) == [UInt8(ascii: "S"), 0, 0, 0, 4])
    }
}
