import Foundation
import Testing

@testable import LocalRunner

@Suite("EnvironmentFile")
struct EnvironmentFileTests {
    @Test func parsesAssignmentsCommentsAndQuotes() throws {
        let text = """
            # a comment
              
            A=1
            export B = two words 
            C="quoted # not a comment"
            D='single'
            E=x=y
            F=
            G="
            WINDOWS=crlf\r
            """
        let file = try EnvironmentFile(parsing: text, file: "dev.env")
        #expect(file.entries.map(\.key) == ["A", "B", "C", "D", "E", "F", "G", "WINDOWS"])
        #expect(
            file.entries.map(\.value) == [
                "1", "two words", "quoted # not a comment", "single", "x=y", "", "\"", "crlf",
            ]
        )
    }

    @Test func appliedOverridesAndEmptyUnsets() throws {
        let file = try EnvironmentFile(parsing: "A=new\nB=\nC=added\nA=last\n", file: "f")
        #expect(file.applied(to: ["A": "old", "B": "gone", "D": "kept"]) == ["A": "last", "C": "added", "D": "kept"])
    }

    @Test(arguments: [
        ("A=1\nnot an assignment\n", 2, "expected KEY=VALUE"),
        ("=value\n", 1, "not a valid variable name"),
        ("1A=x\n", 1, "not a valid variable name"),
        ("A B=x\n", 1, "not a valid variable name"),
    ])
    func rejectsMalformedLines(text: String, line: Int, message: String) {
        #expect {
            try EnvironmentFile(parsing: text, file: "dev.env")
        } throws: { error in
            guard let error = error as? EnvironmentFile.ParseError else { return false }
            return error.line == line && error.message.contains(message)
                && error.description.hasPrefix("dev.env:\(line): ")
        }
    }

    @Test func errorsNeverContainTheValue() {
        #expect {
            try EnvironmentFile(parsing: "SECRET-KEY=hunter2\n", file: "f")
        } throws: { error in
            !"\(error)".contains("hunter2")
        }
    }
}
