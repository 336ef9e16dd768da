#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension FunctionHarness {
    /// What a function's `main.swift` calls, as top-level code *without* `await`: runs
    /// ``main(name:settings:definition:)`` on the concurrency pool and parks the main thread until it ends the process.
    ///
    /// An async `main.swift` (a top-level `await`) ends in `dispatch_main()`, whose `pthread_exit` on the main
    /// thread is a forced unwind; in a static executable, which registers its unwind tables the slow way
    /// (crtbeginT's `__register_frame_info`), that one unwind sorts every FDE of the binary: 10–15 ms of each
    /// cold start. The harness runs in a detached task because a plain `Task` at top level inherits the main
    /// actor, which a parked main thread never serves.
    public static func start(
        name: String,
        settings: HarnessSettings,
        definition: @escaping @Sendable ([String: String]) -> FunctionDefinition
    ) -> Never {
        Task.detached { await main(name: name, settings: settings, definition: definition) }
        while true { pause() }
    }
}
