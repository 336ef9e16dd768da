import Foundation
import TestSupport
import Testing
import WeChatSandbox

/// The function executables are fully static (no dynamic loader, no system glibc needed), and still resolve
/// WeChat's host by name: glibc's built-in `files` and `dns` lookups work without the shared NSS modules.
@Suite struct StaticFunctionTests {
    /// Whether an ELF executable asks for a program interpreter (`PT_INTERP`), i.e. is dynamically linked.
    static func hasInterpreter(_ file: URL) throws -> Bool {
        let handle = try FileHandle(forReadingFrom: file)
        defer { try? handle.close() }
        let header = Array(try handle.read(upToCount: 64) ?? Data())
        guard header.count == 64, header.starts(with: [0x7F, 0x45, 0x4C, 0x46]), header[4] == 2 else {
            Issue.record("\(file.path) is not a 64-bit ELF file")
            return true
        }
        func integer(_ bytes: [UInt8], _ offset: Int, _ count: Int) -> Int {
            (0..<count).reduce(0) { $0 | Int(bytes[offset + $1]) << (8 * $1) }
        }
        let (offset, size, count) = (integer(header, 32, 8), integer(header, 54, 2), integer(header, 56, 2))
        try handle.seek(toOffset: UInt64(offset))
        let table = Array(try handle.read(upToCount: size * count) ?? Data())
        guard table.count == size * count else { return true }
        return (0..<count).contains { integer(table, $0 * size, 4) == 3 }
    }

    @Test func everyFunctionExecutableIsStatic() throws {
        let folder = EndToEnd.locateExecutables()
        for name in ["login", "callback", "refresh", "userinfo", "logout", "jwks", "admin"] {
            #expect(try !Self.hasInterpreter(folder.appendingPathComponent(name)), "\(name) needs a dynamic loader")
        }
    }

    @Test func aStaticLoginResolvesWeChatsHostByName() async throws {
        try await withEndToEnd { e2e in
            let byName = e2e.sandbox.baseURL.replacingOccurrences(of: "://127.0.0.1:", with: "://localhost:")
            #expect(byName != e2e.sandbox.baseURL, "the sandbox is not on 127.0.0.1: \(e2e.sandbox.baseURL)")
            let signedIn = try await e2e.login(user: "alice", environment: ["WECHAT_API_BASE": byName])
            #expect(signedIn.status == 200, "\(signedIn.stdout)\n\(signedIn.stderr)")
            #expect(try await e2e.calls() == 1, "WeChat (the sandbox, reached as localhost) was called")
        }
    }
}
