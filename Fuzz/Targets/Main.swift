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

/// The target this process fuzzes, from `WXAUTH_FUZZ_TARGET`; set once before libFuzzer starts.
nonisolated(unsafe) private var selected: FuzzTarget?

/// Every parser of untrusted bytes, one libFuzzer target each, in one binary (one link, one build): `.ci/fuzz`
/// runs `WXAUTH_FUZZ_TARGET=NAME wxauth-fuzz [libFuzzer flags] Fuzz/corpus/NAME`.
@main struct FuzzMain {
    static func main() async {
        let name = getenv("WXAUTH_FUZZ_TARGET").map { String(cString: $0) } ?? ""
        guard let target = await FuzzTarget.make(name) else {
            let names = FuzzTarget.names.joined(separator: ", ")
            fputs("WXAUTH_FUZZ_TARGET must be one of: \(names)\n", stderr)
            exit(64)
        }
        selected = target
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(runDriver(&argc, &argv) { data, size in
            selected?.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
            return 0
        })
    }
}
