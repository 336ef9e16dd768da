import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One run of a function executable: event bytes on stdin, response bytes from stdout, logs from stderr.
///
/// The child gets its own process group so that a timeout, a cancellation or its own exit kills
/// everything it started (SIGKILL to the group), as a FaaS platform ends an invocation. It is started
/// with `fork`/`execve` rather than Foundation's `Process` because only `wait4` reports the child's peak
/// memory, which the `REPORT` line needs.
public struct FunctionProcess: Sendable {
    /// Absolute path of the executable.
    public var executable: String
    /// Arguments after the executable's name.
    public var arguments: [String]
    /// The complete environment of the child; nothing is inherited.
    public var environment: [String: String]
    /// Time from spawn after which the process group is killed.
    public var timeout: Duration
    /// The memory the process may use, in bytes (nil: unlimited). Enforced by a cgroup where the runner
    /// can make one (see ``MemoryCgroup``), otherwise judged from the peak RSS once the process ends.
    public var memoryLimitBytes: Int?

    /// Describes a run; nothing starts until `run`.
    public init(
        executable: String,
        arguments: [String] = [],
        environment: [String: String],
        timeout: Duration,
        memoryLimitBytes: Int? = nil
    ) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.timeout = timeout
        self.memoryLimitBytes = memoryLimitBytes
    }

    /// How the process ended.
    public enum Termination: Sendable, Equatable {
        /// It exited by itself with this status.
        case exited(Int32)
        /// A signal other than ours ended it (a crash, or someone else's kill).
        case signaled(Int32)
        /// It was still running at the timeout and was killed.
        case timedOut
        /// The calling task was cancelled and the process killed.
        case cancelled
        /// It used more memory than `memoryLimitBytes`: the cgroup's out-of-memory killer ended it, or
        /// (where no cgroup could be made) its peak RSS was above the limit.
        case outOfMemory
    }

    /// What a finished run produced.
    public struct Outcome: Sendable {
        /// Everything the process wrote to stdout.
        public var stdout: [UInt8]
        /// How it ended.
        public var termination: Termination
        /// From the `execve` until the process was seen to end.
        public var duration: Duration
        /// Peak resident memory of the process (`ru_maxrss`), in bytes.
        public var maxResidentBytes: Int
    }

    /// The executable could not be started.
    public struct SpawnError: Error, Sendable, Equatable, CustomStringConvertible {
        /// The path that was tried.
        public var executable: String
        /// The `errno` of the failed `fork` or `execve`.
        public var code: Int32

        /// E.g. `cannot run /x/login: No such file or directory`.
        public var description: String {
            "cannot run \(executable): \(String(cString: strerror(code)))"
        }
    }

    /// Runs the process to its end; `stderr` receives the child's stderr chunks as they arrive.
    ///
    /// The work happens on dedicated threads, never on the concurrency pool, because it blocks in
    /// `poll` and `waitid`. Cancelling the calling task kills the process group.
    /// `started` is called with the child's pid once it runs (a warm instance reads its memory from `/proc`).
    public func run(
        input: [UInt8],
        started: (@Sendable (Int32) -> Void)? = nil,
        stderr: @escaping @Sendable ([UInt8]) -> Void
    ) async throws(SpawnError) -> Outcome {
        let control = ProcessControl()
        let result: Result<Outcome, SpawnError> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let thread = Thread {
                    continuation.resume(
                        returning: Result { () throws(SpawnError) in
                            try runBlocking(input: input, control: control, started: started, stderr: stderr)
                        }
                    )
                }
                thread.start()
            }
        } onCancel: {
            control.cancel()
        }
        return try result.get()
    }

    // MARK: - Blocking core

    private func runBlocking(
        input: [UInt8],
        control: ProcessControl,
        started: (@Sendable (Int32) -> Void)?,
        stderr: @Sendable ([UInt8]) -> Void
    ) throws(SpawnError) -> Outcome {
        // A child that exits without reading its stdin must not kill the runner with SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        let cgroup = memoryLimitBytes.flatMap { MemoryCgroup.make(limitBytes: $0) }
        defer { cgroup?.remove() }
        let (pid, start, stdinPipe, stdoutPipe, stderrPipe) = try Self.spawnLock.withLock { _ throws(SpawnError) in
            let stdinPipe = try makePipe()
            let stdoutPipe = try makePipe()
            let stderrPipe = try makePipe()
            do throws(SpawnError) {
                let pid = try spawn(
                    stdin: stdinPipe.read,
                    stdout: stdoutPipe.write,
                    stderr: stderrPipe.write,
                    cgroupProcs: cgroup?.procsDescriptor ?? -1
                )
                // `spawn` returns once the child has exec'd: the duration is the function's own, not the
                // fork and cgroup move before it (joining a v1 memory cgroup alone costs milliseconds).
                return (pid, ContinuousClock.now, stdinPipe, stdoutPipe, stderrPipe)
            } catch {
                for pipe in [stdinPipe, stdoutPipe, stderrPipe] {
                    close(pipe.read)
                    close(pipe.write)
                }
                throw error
            }
        }
        close(stdinPipe.read)
        close(stdoutPipe.write)
        close(stderrPipe.write)
        _ = fcntl(stdinPipe.write, F_SETFL, fcntl(stdinPipe.write, F_GETFL) | O_NONBLOCK)

        control.started(pid: pid)
        started?(pid)
        let exited = DispatchSemaphore(value: 0)
        Thread {
            // Wait for the exit without reaping, so the pid (and its group id) cannot be reused while
            // we still kill the group's leftovers or the poll loop still may time it out.
            var info = siginfo_t()
            while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) == -1 && errno == EINTR {}
            control.markExited()
            kill(-pid, SIGKILL)
            exited.signal()
        }.start()

        let deadline = start + timeout
        var killedAtDeadline = false
        var io = PipeIO(stdin: stdinPipe.write, input: input, stdout: stdoutPipe.read, stderr: stderrPipe.read)
        while !io.finished {
            let wait = killedAtDeadline ? -1 : Self.milliseconds(until: deadline)
            if !io.pollOnce(timeoutMilliseconds: wait, stderr: stderr), !killedAtDeadline,
                ContinuousClock.now >= deadline
            {
                killedAtDeadline = control.kill()
            }
        }
        io.closeAll()
        let grace = DispatchTime.now() + .milliseconds(Int(Self.milliseconds(until: deadline)))
        if !killedAtDeadline, exited.wait(timeout: grace) == .timedOut {
            killedAtDeadline = control.kill()
            exited.wait()
        } else if killedAtDeadline {
            exited.wait()
        }

        let (status, usage) = control.reap()
        let end = control.exitTime ?? .now
        #if canImport(Darwin)
        let maxResidentBytes = Int(usage.ru_maxrss)
        #else
        let maxResidentBytes = Int(usage.ru_maxrss) * 1024
        #endif
        let termination: Termination
        if let cgroup, cgroup.outOfMemoryKills, !killedAtDeadline {
            termination = .outOfMemory
        } else if cgroup == nil, let memoryLimitBytes, maxResidentBytes > memoryLimitBytes, !killedAtDeadline {
            termination = .outOfMemory
        } else if Self.terminatingSignal(of: status) == SIGKILL, killedAtDeadline {
            termination = .timedOut
        } else if Self.terminatingSignal(of: status) == SIGKILL, control.wasCancelled {
            termination = .cancelled
        } else if let signal = Self.terminatingSignal(of: status) {
            termination = .signaled(signal)
        } else {
            termination = .exited((status >> 8) & 0xff)
        }
        return Outcome(
            stdout: io.stdoutBytes,
            termination: termination,
            duration: end - start,
            maxResidentBytes: maxResidentBytes
        )
    }

    /// Starts the child with `fork` and `execve`.
    ///
    /// Not `posix_spawn`: glibc implements it with `vfork`, and Linux charges the peak memory of the
    /// address space a process leaves at `exec` to that process's `ru_maxrss`, so every child would
    /// report the runner's own peak. A forked copy counts only the runner's anonymous pages (a few MB),
    /// which keeps `Max Memory Used` about the function. Between `fork` and `execve` the child calls
    /// only async-signal-safe functions on memory prepared here, since other threads' locks are frozen.
    private func spawn(stdin: Int32, stdout: Int32, stderr: Int32, cgroupProcs: Int32) throws(SpawnError) -> pid_t {
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        // Reports an exec failure's errno; close-on-exec, so a successful exec reads as end of file.
        let failure = try makePipe()
        // A function gets stdin, stdout and stderr only, as on a FaaS platform: whatever else the runner
        // has open without close-on-exec (a file another thread is writing, say) is closed in the child.
        let inherited = Self.openDescriptors().filter { $0 > 2 && $0 != failure.write }
        let pid = argv.withUnsafeBufferPointer { argvPointer in
            envp.withUnsafeBufferPointer { envpPointer in
                inherited.withUnsafeBufferPointer { inheritedPointer in
                    forkAndExec(
                        path: argvPointer[0]!,
                        argv: argvPointer.baseAddress!,
                        envp: envpPointer.baseAddress!,
                        stdio: (stdin, stdout, stderr),
                        closing: inheritedPointer,
                        signalMask: &noSignals,
                        cgroupProcs: cgroupProcs,
                        failure: failure.write
                    )
                }
            }
        }
        let forkError = errno
        close(failure.write)
        defer { close(failure.read) }
        guard pid > 0 else { throw SpawnError(executable: executable, code: forkError) }
        // Also set here, so the group exists even before the child gets to run.
        setpgid(pid, pid)
        var code: Int32 = 0
        let count = withUnsafeMutableBytes(of: &code) { read(failure.read, $0.baseAddress!, $0.count) }
        guard count == MemoryLayout<Int32>.size else { return pid }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        throw SpawnError(executable: executable, code: code)
    }

    /// The runner's open file descriptors, from `/proc/self/fd` (none where there is no such directory).
    private static func openDescriptors() -> [Int32] {
        guard let directory = opendir("/proc/self/fd") else { return [] }
        let own = dirfd(directory)
        var result: [Int32] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            if let fd = Int32(name), fd != own { result.append(fd) }
        }
        closedir(directory)
        return result
    }

    /// Held while pipes are made and a child spawned. Swift's Glibc has no `pipe2`, so a pipe is
    /// close-on-exec only a moment after it exists; without the lock a concurrent spawn (as `serve`
    /// makes) could inherit another child's pipe end and keep that child's output open.
    private static let spawnLock = Mutex(())

    private func makePipe() throws(SpawnError) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw SpawnError(executable: executable, code: errno) }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return (fds[0], fds[1])
    }

    private static func milliseconds(until deadline: ContinuousClock.Instant) -> Int32 {
        let remaining = deadline - .now
        guard remaining > .zero else { return 0 }
        let (seconds, attoseconds) = remaining.components
        // Round up, so the poll never wakes just before the deadline and spins.
        return Int32(clamping: seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
    }

    private static func terminatingSignal(of status: Int32) -> Int32? {
        let signal = status & 0x7f
        return signal != 0 && signal != 0x7f ? signal : nil
    }
}

// MARK: - Child side of fork

/// Fork, then in the child: own process group, default signals, pipes on 0/1/2, nothing else open, `execve`.
/// Returns the child's pid (or -1) in the parent; never returns in the child.
private func forkAndExec(
    path: UnsafeMutablePointer<CChar>,
    argv: UnsafePointer<UnsafeMutablePointer<CChar>?>,
    envp: UnsafePointer<UnsafeMutablePointer<CChar>?>,
    stdio: (Int32, Int32, Int32),
    closing inherited: UnsafeBufferPointer<Int32>,
    signalMask: UnsafePointer<sigset_t>,
    cgroupProcs: Int32,
    failure: Int32
) -> pid_t {
    // "0" written to cgroup.procs moves the writer; prepared here, since the child must not allocate.
    var joinCgroup: UInt8 = 0x30
    let pid = fork()
    guard pid == 0 else { return pid }
    setpgid(0, 0)
    if cgroupProcs >= 0 {
        _ = write(cgroupProcs, &joinCgroup, 1)
    }
    // The runner ignores SIGPIPE and SIGINT/SIGTERM and may block signals; a new process must not inherit that.
    sigprocmask(SIG_SETMASK, signalMask, nil)
    // Written out rather than looped over an array: an array literal may allocate, and malloc is not
    // safe between fork and exec.
    signal(SIGPIPE, SIG_DFL)
    signal(SIGINT, SIG_DFL)
    signal(SIGTERM, SIG_DFL)
    signal(SIGHUP, SIG_DFL)
    signal(SIGQUIT, SIG_DFL)
    signal(SIGCHLD, SIG_DFL)
    signal(SIGALRM, SIG_DFL)
    signal(SIGUSR1, SIG_DFL)
    signal(SIGUSR2, SIG_DFL)
    moveDescriptor(stdio.0, to: 0)
    moveDescriptor(stdio.1, to: 1)
    moveDescriptor(stdio.2, to: 2)
    for fd in inherited {
        close(fd)
    }
    execve(path, argv, envp)
    var code = errno
    _ = withUnsafeBytes(of: &code) { write(failure, $0.baseAddress!, $0.count) }
    _exit(127)
}

/// `dup2`, or for a descriptor already in place, clearing its close-on-exec flag.
private func moveDescriptor(_ source: Int32, to target: Int32) {
    if source == target {
        _ = fcntl(source, F_SETFD, 0)
    } else {
        dup2(source, target)
    }
}

// MARK: - Process control

/// The child's pid, shared between the I/O thread and a cancelling task, so nobody signals a pid
/// after it was reaped (when the number may already belong to another process).
private final class ProcessControl: Sendable {
    private enum State {
        case notStarted
        case running(pid_t)
        case reaped
    }

    private let state = Mutex<(state: State, cancelled: Bool)>((.notStarted, false))
    private let exit = Mutex<ContinuousClock.Instant?>(nil)

    var wasCancelled: Bool { state.withLock { $0.cancelled } }

    /// When the process was seen to end, for the duration.
    var exitTime: ContinuousClock.Instant? { exit.withLock { $0 } }

    func markExited() {
        exit.withLock { $0 = .now }
    }

    func started(pid: pid_t) {
        let cancelledEarly = state.withLock { value in
            value.state = .running(pid)
            return value.cancelled
        }
        if cancelledEarly { kill() }
    }

    /// Kills the process group; false when there is no running process to kill.
    @discardableResult
    func kill() -> Bool {
        state.withLock { value in
            guard case .running(let pid) = value.state else { return false }
            #if canImport(Glibc)
            Glibc.kill(-pid, SIGKILL)
            #elseif canImport(Musl)
            Musl.kill(-pid, SIGKILL)
            #else
            Darwin.kill(-pid, SIGKILL)
            #endif
            return true
        }
    }

    func cancel() {
        let running = state.withLock { value in
            value.cancelled = true
            if case .running = value.state { return true }
            return false
        }
        if running { kill() }
    }

    /// Reaps the exited child: its wait status and resource usage.
    func reap() -> (status: Int32, usage: rusage) {
        let pid: pid_t? = state.withLock { value in
            guard case .running(let pid) = value.state else { return nil }
            value.state = .reaped
            return pid
        }
        var status: Int32 = 0
        var usage = rusage()
        if let pid {
            while wait4(pid, &status, 0, &usage) == -1 && errno == EINTR {}
        }
        return (status, usage)
    }
}

// MARK: - Pipe I/O

/// The parent's ends of the three pipes, driven by `poll` from one thread.
private struct PipeIO {
    private var stdin: Int32
    private var input: [UInt8]
    private var written = 0
    private var stdout: Int32
    private var stderr: Int32
    private(set) var stdoutBytes: [UInt8] = []
    private var buffer = [UInt8](repeating: 0, count: 65_536)

    init(stdin: Int32, input: [UInt8], stdout: Int32, stderr: Int32) {
        self.stdin = stdin
        self.input = input
        self.stdout = stdout
        self.stderr = stderr
        if input.isEmpty { closeStdin() }
    }

    /// Output is finished when both stdout and stderr reached end of file.
    var finished: Bool { stdout < 0 && stderr < 0 }

    /// Waits up to `timeoutMilliseconds` (-1: forever) and moves what is ready; false if nothing was.
    mutating func pollOnce(timeoutMilliseconds: Int32, stderr relay: ([UInt8]) -> Void) -> Bool {
        var fds: [pollfd] = []
        if stdin >= 0 { fds.append(pollfd(fd: stdin, events: Int16(POLLOUT), revents: 0)) }
        if stdout >= 0 { fds.append(pollfd(fd: stdout, events: Int16(POLLIN), revents: 0)) }
        if stderr >= 0 { fds.append(pollfd(fd: stderr, events: Int16(POLLIN), revents: 0)) }
        let ready = poll(&fds, nfds_t(fds.count), timeoutMilliseconds)
        guard ready > 0 else { return false }
        for entry in fds where entry.revents != 0 {
            if entry.fd == stdin {
                writeInput()
            } else if entry.fd == stdout {
                if let chunk = readChunk(from: stdout) { stdoutBytes += chunk } else { Self.closeOutput(&stdout) }
            } else if entry.fd == stderr {
                if let chunk = readChunk(from: stderr) { relay(chunk) } else { Self.closeOutput(&stderr) }
            }
        }
        return true
    }

    mutating func closeAll() {
        closeStdin()
        Self.closeOutput(&stdout)
        Self.closeOutput(&stderr)
    }

    private mutating func writeInput() {
        let count = input.withUnsafeBytes { bytes in
            write(stdin, bytes.baseAddress! + written, bytes.count - written)
        }
        if count > 0 {
            written += count
            if written == input.count { closeStdin() }
        } else if count == -1 && errno != EAGAIN && errno != EINTR {
            // EPIPE: the child closed its stdin or exited; it does not want the rest.
            closeStdin()
        }
    }

    /// A chunk, or nil at end of file (or on an error, which ends the stream the same way).
    private mutating func readChunk(from fd: Int32) -> [UInt8]? {
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if count > 0 { return Array(buffer[..<count]) }
            if count == -1 && errno == EINTR { continue }
            return nil
        }
    }

    private mutating func closeStdin() {
        if stdin >= 0 {
            close(stdin)
            stdin = -1
        }
    }

    private static func closeOutput(_ fd: inout Int32) {
        if fd >= 0 {
            close(fd)
            fd = -1
        }
    }
}
