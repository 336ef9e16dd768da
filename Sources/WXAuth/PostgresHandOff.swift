#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import FunctionRuntime
import WXAuthStore

/// The function binaries do not link postgres-nio: it brings all of Foundation, which every cold start would pay
/// for (about 1 ms and 3 MB, see Benchmarks/) whatever the store. A configuration naming PostgreSQL is handed to
/// `wxauth-postgres` — the same five functions linked with the PostgreSQL store — installed beside the function.
/// It runs in this process's place (exec, before any input is read), so stdin, the environment and the Lambda
/// runtime API are simply its own.
enum PostgresHandOff {
    /// The executable that runs every function with PostgreSQL: `wxauth-postgres FUNCTION`.
    static let executableName = "wxauth-postgres"

    /// Whether `WXAUTH_DATABASE_URL` (or its `_FILE` twin) names PostgreSQL. A setting that cannot be read is not
    /// handed off: the configuration reports it as usual.
    static func isNeeded(environment: [String: String]) -> Bool {
        guard let value = try? EnvironmentReader(environment: environment).value("WXAUTH_DATABASE_URL"),
            case .postgres = DatabaseURL(value)
        else { return false }
        return true
    }

    /// ``isNeeded(environment:)`` for this process, asked of `getenv`: every cold start of every function asks,
    /// so the common answer (a SQLite URL, or none) builds nothing, not even the environment dictionary.
    static func isNeededByProcessEnvironment() -> Bool {
        if let value = getenv("WXAUTH_DATABASE_URL"), value.pointee != 0 {
            guard case .postgres = DatabaseURL(String(cString: value)) else { return false }
            return true
        }
        if let file = getenv("WXAUTH_DATABASE_URL_FILE"), file.pointee != 0 {
            return isNeeded(environment: ProcessEnvironment.current())
        }
        return false
    }

    /// Replaces this process with `wxauth-postgres NAME`, found in this executable's directory. Returns only when
    /// that failed, with a description for the log.
    static func exec(_ name: Functions.Name) -> String {
        guard let directory = executableDirectory() else { return "this executable's own path is unknown" }
        let path = directory + "/" + executableName
        let arguments = [path, name.rawValue]
        var pointers = arguments.map { strdup($0) }
        pointers.append(nil)
        execv(path, pointers)
        let reason = String(cString: strerror(errno))
        pointers.forEach { free($0) }
        return "cannot run \(path): \(reason)"
    }

    /// The directory of the running executable, from the kernel rather than argv[0] (which a caller may set).
    private static func executableDirectory() -> String? {
        #if os(Linux)
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        let path = String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        #else
        guard let path = CommandLine.arguments.first, path.contains("/") else { return nil }
        #endif
        guard let slash = path.lastIndex(of: "/") else { return nil }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}

extension Functions {
    /// Runs `wxauth-postgres` in this process's place when the environment names PostgreSQL, before anything
    /// else starts: `main.swift` calls it first, synchronously, so the exec happens before Swift's concurrency
    /// runtime has started threads (which the kernel would have to stop). Returns nil when there was nothing to
    /// hand off, else why the hand-off failed, for ``definition(_:environment:postgres:handOffFailure:)``.
    public static func handOffToPostgresIfConfigured(_ name: Name) -> String? {
        PostgresHandOff.isNeededByProcessEnvironment() ? PostgresHandOff.exec(name) : nil
    }
}

extension Functions.Name {
    /// The function `wxauth-postgres` runs: its argument (`wxauth-postgres userinfo`, as the hand-off runs it) or,
    /// packaged as a Lambda `bootstrap` itself, the function's `_HANDLER`.
    public init?(arguments: [String], environment: [String: String]) {
        let chosen = arguments.count > 1 ? arguments[1] : environment["_HANDLER"] ?? ""
        self.init(rawValue: chosen)
    }
}
