#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import FunctionRuntime
import WeChatHTTP
import WXAuth
import WXAuthPostgres

// Every function, linked with the PostgreSQL store. The function binaries run this in their place when
// WXAUTH_DATABASE_URL names PostgreSQL, so only PostgreSQL deployments pay for postgres-nio at start-up.
let environment = ProcessEnvironment.current()
guard let name = Functions.Name(arguments: CommandLine.arguments, environment: environment) else {
    let names = Functions.Name.allCases.map(\.rawValue).joined(separator: "|")
    StandardStreams.writeAll("usage: wxauth-postgres \(names)  (one JSON event on stdin, or the Lambda runtime API)\n", to: 2)
    exit(64)
}
FunctionHarness.start(name: name.rawValue) {
    Functions.definition(name, environment: $0, weChatTransport: AsyncHTTPClientTransport(), postgres: PostgresStore.opener)
}
