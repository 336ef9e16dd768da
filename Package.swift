// swift-tools-version:6.1
import PackageDescription

/// One settings list for every target: Swift 6 language mode with strict concurrency.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

/// Function executables are fully static (`-static-executable`: glibc's `libc.a`, no dynamic loader), in every
/// configuration, so the binaries the tests run are the ones shipped. A zip then needs no system glibc at all
/// (Lambda's provided.al2023 has 2.34; this toolchain's libm would ask for `hypot@GLIBC_2.35`), and a cold start
/// skips the loader. A static executable is not position-independent either: relocating a PIE Swift binary
/// dirtied about 300 pages of metadata at every start (see Benchmarks/). Name resolution still works: glibc
/// ≥ 2.34 has its `files` and `dns` lookups built in. The `main.swift` files call `FunctionHarness.start`,
/// which avoids the one costly unwind a static binary would pay at exit.
let functionLinkerSettings: [LinkerSetting] = [
    .unsafeFlags(["-static-executable", "-use-ld=lld"]),
    // Foundation's own dependencies, which SwiftPM does not name when linking statically (lld takes only what
    // is used, so the functions that do not use full Foundation do not grow).
    .linkedLibrary("_FoundationCollections"), .linkedLibrary("_FoundationCShims"), .linkedLibrary("_FoundationICU"),
    .linkedLibrary("CoreFoundation"),
]

let package = Package(
    name: "wxauth",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "login", targets: ["login"]),
        .executable(name: "callback", targets: ["callback"]),
        .executable(name: "refresh", targets: ["refresh"]),
        .executable(name: "userinfo", targets: ["userinfo"]),
        .executable(name: "logout", targets: ["logout"]),
        .executable(name: "admin", targets: ["admin"]),
        .executable(name: "jwks", targets: ["jwks"]),
        .executable(name: "wxauth-http", targets: ["wxauth-http"]),
        .executable(name: "local-runner", targets: ["local-runner"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
    ],
    targets: [
        // MARK: Libraries
        // HTTP/1.1 on blocking sockets: the Lambda and SCF runtime APIs, WeChat's API, the runner's loopback calls.
        .target(name: "HTTPWire", dependencies: ["BlockingSocket"], swiftSettings: swiftSettings),
        // The small text encodings (hex, percent-encoding, HTML text) written once; a leaf, `package` access only.
        .target(name: "Encodings", swiftSettings: swiftSettings),
        .target(
            name: "FunctionRuntime",
            dependencies: ["Encodings", "HTTPWire", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "WeChat",
            dependencies: [
                "Encodings", "FunctionRuntime",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // WeChat's production transport (HTTPWire's blocking client, TLS through OpenSSL). Only the executables that
        // run a function calling WeChat (login, callback, wxauth-http) link it; WXAuth does not.
        .target(
            name: "WeChatHTTP",
            dependencies: ["WeChat", "HTTPWire", "BlockingSocket"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "WXAuthStore",
            dependencies: [
                "Encodings",
                "CSQLite",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // OpenSSL from the system (Debian's libssl-dev): the static function executables link libssl.a and
        // libcrypto.a.
        .systemLibrary(name: "COpenSSL", path: "Sources/COpenSSL", providers: [.apt(["libssl-dev"])]),
        // Debian's SQLite; the static executables link its libsqlite3.a.
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        // A TCP client with deadline-bounded blocking calls and optional TLS, and a thread to run them on;
        // knows nothing of PostgreSQL (a blocking HTTPS client can use it too).
        .target(name: "BlockingSocket", dependencies: ["COpenSSL"], swiftSettings: swiftSettings),
        // The PostgreSQL v3 protocol over BlockingSocket: start-up, authentication, extended queries.
        .target(
            name: "PostgresWire",
            dependencies: [
                "BlockingSocket",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "WXAuthPostgres",
            dependencies: [
                "WXAuthStore", "PostgresWire", "BlockingSocket", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "WXAuth",
            dependencies: [
                "Encodings", "FunctionRuntime", "WeChat", "WXAuthStore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "WeChatSandbox",
            dependencies: [
                "Encodings",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // What `local-runner serve` and `wxauth-http` share in front of the functions: the client's address, the
        // request limit, the proxy-response mapping, the answers for unrouted paths.
        .target(
            name: "GatewayHTTP",
            dependencies: [
                "FunctionRuntime",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "LocalRunner",
            dependencies: [
                "Encodings", "FunctionRuntime", "GatewayHTTP", "HTTPWire", "WeChatSandbox", "WXAuthStore",
                "WXAuthPostgres",
                "WXAuth",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Function executables (wiring only)
        .executableTarget(
            name: "login",
            dependencies: ["FunctionRuntime", "WXAuth", "WXAuthPostgres", "WeChatHTTP"],
            swiftSettings: swiftSettings,
            linkerSettings: functionLinkerSettings
        ),
        .executableTarget(
            name: "callback",
            dependencies: ["FunctionRuntime", "WXAuth", "WXAuthPostgres", "WeChatHTTP"],
            swiftSettings: swiftSettings,
            linkerSettings: functionLinkerSettings
        ),
        .executableTarget(
            name: "refresh",
            dependencies: ["FunctionRuntime", "WXAuth", "WXAuthPostgres"],
            swiftSettings: swiftSettings,
            linkerSettings: functionLinkerSettings
        ),
        .executableTarget(
            name: "userinfo",
            dependencies: ["FunctionRuntime", "WXAuth", "WXAuthPostgres"],
            swiftSettings: swiftSettings,
            linkerSettings: functionLinkerSettings
        ),
        .executableTarget(
            name: "logout",
            dependencies: ["FunctionRuntime", "WXAuth", "WXAuthPostgres"],
            swiftSettings: swiftSettings,
            linkerSettings: functionLinkerSettings
        ),
        .executableTarget(
            name: "admin",
            dependencies: ["FunctionRuntime", "WXAuth", "WXAuthPostgres"],
            swiftSettings: swiftSettings,
            linkerSettings: functionLinkerSettings
        ),
        .executableTarget(
            name: "jwks",
            dependencies: ["FunctionRuntime", "WXAuth"],
            swiftSettings: swiftSettings,
            linkerSettings: functionLinkerSettings
        ),
        // Every function behind one HTTP/1.1 server (SCF web functions, Function Compute, containers); the stdin
        // function binaries never link Hummingbird.
        .executableTarget(
            name: "wxauth-http",
            dependencies: [
                "FunctionRuntime", "GatewayHTTP", "WXAuth", "WXAuthPostgres", "WeChatHTTP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // Static like the functions, so one binary runs on any platform image (SCF, Function Compute, distroless).
            swiftSettings: swiftSettings,
            linkerSettings: functionLinkerSettings
        ),
        .executableTarget(name: "local-runner", dependencies: ["LocalRunner"], swiftSettings: swiftSettings),

        // MARK: Tests
        // What the test targets share: loopback sockets on OS-picked ports, test certificates, a child-process runner, a seeded generator, the WeChat fake.
        .target(
            name: "TestSupport",
            dependencies: ["BlockingSocket", "WeChat"],
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HTTPWireTests",
            dependencies: ["HTTPWire", "BlockingSocket", "COpenSSL", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FunctionRuntimeTests",
            dependencies: ["Encodings", "FunctionRuntime", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WeChatTests",
            dependencies: ["WeChat", "WeChatHTTP", "HTTPWire", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PostgresWireTests",
            dependencies: ["PostgresWire", "BlockingSocket", "COpenSSL", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "PostgresTestSupport",
            dependencies: [
                "WXAuthPostgres", "WXAuthStore", "PostgresWire", "BlockingSocket",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/PostgresTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WXAuthStoreTests",
            dependencies: [
                "WXAuthStore", "WXAuthPostgres", "PostgresTestSupport", "PostgresWire", "TestSupport",
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WXAuthTests",
            dependencies: ["Encodings", "WXAuth", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WeChatSandboxTests",
            dependencies: [
                "WeChatSandbox",
                "WeChat",
                "WeChatHTTP",
                "TestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "LocalRunnerTests",
            dependencies: [
                "LocalRunner", "WXAuthStore", "TestSupport", "BlockingSocket",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "WeChatSandbox", "PostgresTestSupport", "LocalRunner", "TestSupport", "BlockingSocket",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)

// MARK: Fuzzing (.ci/fuzz)
// libFuzzer targets over every parser of untrusted bytes (Fuzz/). They need sanitizer flags and libFuzzer supplies
// their driver, so they exist only in a build that asks for them — `WXAUTH_FUZZ=1 swift build --scratch-path
// .build/fuzz` — which also instruments the libraries they fuzz (coverage feedback and AddressSanitizer).
if Context.environment["WXAUTH_FUZZ"] == "1" {
    let sanitizers: [SwiftSetting] = [.unsafeFlags(["-sanitize=fuzzer,address"])]
    for target in package.targets
    where ["Encodings", "HTTPWire", "FunctionRuntime", "WeChat", "WXAuthStore", "WXAuth", "PostgresWire"].contains(
        target.name
    ) {
        target.swiftSettings = (target.swiftSettings ?? []) + sanitizers
    }
    package.targets.append(
        .executableTarget(
            name: "wxauth-fuzz",
            dependencies: [
                "Encodings", "HTTPWire", "FunctionRuntime", "WeChat", "WXAuthStore", "WXAuth", "PostgresWire",
                .product(name: "Crypto", package: "swift-crypto"), .product(name: "Logging", package: "swift-log"),
            ],
            path: "Fuzz/Targets",
            swiftSettings: swiftSettings + sanitizers,
            // gold fails on the sanitizer runtimes' symbols; lld links them.
            linkerSettings: [.unsafeFlags(["-sanitize=fuzzer,address", "-use-ld=lld"])]
        )
    )
}
