import FunctionRuntime

#if canImport(Glibc)
import Glibc
#endif

/// libFuzzer's entry when a program brings its own `main` (SwiftPM gives every executable one).
@_silgen_name("LLVMFuzzerRunDriver")
private func runDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

/// The target this process fuzzes, from `WXAUTH_FUZZ_TARGET`; set once before the first input.
nonisolated(unsafe) private var selected: FuzzTarget?

/// Called by libFuzzer once, before any input: picks and prepares the target.
@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(
    _ argc: UnsafeMutablePointer<Int32>?,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?
) -> Int32 {
    let name = getenv("WXAUTH_FUZZ_TARGET").map { String(cString: $0) } ?? ""
    guard let target = blocking({ await FuzzTarget.make(name) }) else {
        StandardStreams.writeAll(
            "WXAUTH_FUZZ_TARGET must be one of: \(FuzzTarget.names.joined(separator: ", "))\n",
            to: 2
        )
        exit(64)
    }
    selected = target
    return 0
}

/// One input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    selected?.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}

/// Every parser of untrusted bytes, one libFuzzer target each, in one binary (one link, one build): `.ci/fuzz`
/// runs `WXAUTH_FUZZ_TARGET=NAME wxauth-fuzz [libFuzzer flags] Fuzz/corpus/NAME`.
@main struct FuzzMain {
    static func main() {
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(runDriver(&argc, &argv, fuzzerTestOneInput))
    }
}
