import FunctionRuntime
import WXAuth

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// Every function (or those named) behind one HTTP/1.1 server on 0.0.0.0:$PORT: what SCF web functions, Function
// Compute custom runtimes, WeChat Cloud Run and container hosts run.
let environment = ProcessEnvironment.current()
let names = Functions.Name.allCases.map(\.rawValue).joined(separator: "|")
let usage = "usage: wxauth-http [\(names)]…  (serves on 0.0.0.0:$PORT, default 9000; PORT=0 picks a free port)\n"
var chosen: [Functions.Name] = []
for argument in CommandLine.arguments.dropFirst() {
    guard let name = Functions.Name(rawValue: argument) else {
        StandardStreams.writeAll(usage, to: 2)
        exit(64)
    }
    if !chosen.contains(name) { chosen.append(name) }
}
let portText = environment["PORT"].flatMap { $0.isEmpty ? nil : $0 } ?? "9000"
guard let port = Int(portText), (0...65535).contains(port) else {
    StandardStreams.writeAll("wxauth-http: PORT must be a port number (0–65535)\n" + usage, to: 2)
    exit(64)
}
ProcessEnvironment.bootstrap(environment: environment, settings: .wxauth)
let status = await HTTPServing.serve(
    chosen.isEmpty ? Functions.Name.allCases : chosen,
    port: port,
    environment: environment
)
exit(status)
