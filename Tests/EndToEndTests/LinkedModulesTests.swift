import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Each function binary links only what it uses: the functions that never call WeChat link no WeChat transport,
/// and none links the event-loop stack (AsyncHTTPClient, NIO, its TLS and HTTP codec). Every function keeps
/// HTTPWire's small blocking client, which the Lambda and SCF runtime loops speak.
///
/// Read from the built executables' bytes, no external tool: a Swift binary names the modules it links in its
/// symbols (mangled, `15AsyncHTTPClient…`) and in its type metadata (the module's plain name), which stay even
/// when it is stripped.
@Suite struct LinkedModulesTests {
    /// Modules of the event-loop stack no function links: AsyncHTTPClient, NIO itself, its TLS and HTTP/1.1 codec.
    static let eventLoopHTTPModules = ["AsyncHTTPClient", "NIOCore", "NIOPosix", "NIOSSL", "NIOHTTP1"]
    /// WeChat's transport: only the functions that call WeChat link it. Its module's name as the binary stores it
    /// (NUL-terminated), which WeChat's own `WeChatHTTPRequest` type does not match.
    static let weChatTransportModule = "WeChatHTTP\u{0}"

    /// The needles of `needles` found in the file's bytes.
    static func modulesNamed(in file: URL, _ needles: [String]) throws -> Set<String> {
        let bytes = try Data(contentsOf: file, options: .mappedIfSafe)
        return bytes.withUnsafeBytes { buffer -> Set<String> in
            guard let base = buffer.baseAddress else { return [] }
            return Set(needles.filter { needle in contains(needle: Array(needle.utf8), in: base, count: buffer.count) })
        }
    }

    /// Whether `needle` occurs in the `count` bytes at `base`: memchr for its first byte, memcmp for the rest.
    static func contains(needle: [UInt8], in base: UnsafeRawPointer, count: Int) -> Bool {
        guard let first = needle.first, count >= needle.count else { return false }
        var offset = 0
        let last = count - needle.count
        while offset <= last {
            guard let found = memchr(base + offset, Int32(first), last - offset + 1) else { return false }
            let position = base.distance(to: UnsafeRawPointer(found))
            if needle.withUnsafeBytes({ memcmp(base + position, $0.baseAddress!, needle.count) }) == 0 { return true }
            offset = position + 1
        }
        return false
    }

    @Test func onlyTheFunctionsThatCallWeChatLinkAnHTTPClient() async throws {
        let folder = EndToEnd.locateExecutables()
        let needles = Self.eventLoopHTTPModules + [Self.weChatTransportModule]
        let findings = await EndToEnd.onThread { () -> [String: Result<Set<String>, any Error>] in
            var findings: [String: Result<Set<String>, any Error>] = [:]
            for name in ["login", "callback", "userinfo", "refresh", "logout", "jwks", "admin", "wxauth-http"] {
                findings[name] = Result { try Self.modulesNamed(in: folder.appendingPathComponent(name), needles) }
            }
            return findings
        }
        // The check can fail: the functions that call WeChat carry the transport's module name, and wxauth-http,
        // whose server is NIO's, carries NIOHTTP1.
        for name in ["login", "callback"] {
            let found = try #require(findings[name]).get()
            #expect(
                found == [Self.weChatTransportModule],
                "\(name) should link WeChat's transport and no more; found \(found.sorted())"
            )
        }
        #expect(try #require(findings["wxauth-http"]).get().contains("NIOHTTP1"))
        for name in ["userinfo", "refresh", "logout", "jwks", "admin"] {
            let found = try #require(findings[name]).get()
            #expect(found.isEmpty, "\(name) calls no WeChat endpoint, yet links \(found.sorted())")
        }
    }
}
