// OpenSSL's headers include <pthread.h> too, and a whole-module build may take pthread_attr_t from them.
import COpenSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One thread of its own that runs jobs one at a time, in order, for async callers: blocking socket work waits
/// here instead of on Swift's cooperative pool, which has a thread per core and serves every other request.
/// Jobs also take turns by construction, which is what one connection per process needs.
///
/// The thread ends once ``stop()`` has been called and the jobs already queued have run.
package final class WorkerThread: @unchecked Sendable {
    // Guarded by `mutex`.
    private var jobs: [() -> Void] = []
    private var stopping = false
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let wake: UnsafeMutablePointer<pthread_cond_t>

    package init() {
        mutex = .allocate(capacity: 1)
        wake = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        // The thread holds this object until it ends; a small stack is plenty for a socket loop.
        let started = startDetachedThread(stackSize: 1 << 20) { [self] in loop() }
        precondition(started, "cannot start a thread")
    }

    deinit {
        pthread_cond_destroy(wake)
        pthread_mutex_destroy(mutex)
        wake.deallocate()
        mutex.deallocate()
    }

    /// Runs `job` on the thread, after those queued before it, and returns its result.
    package func run<T: Sendable>(_ job: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            enqueue { continuation.resume(with: Result { try job() }) }
        }
    }

    /// Queues `job` without waiting for it.
    package func enqueue(_ job: @escaping () -> Void) {
        pthread_mutex_lock(mutex)
        jobs.append(job)
        pthread_cond_signal(wake)
        pthread_mutex_unlock(mutex)
    }

    /// Lets the thread end once the queue is empty.
    package func stop() {
        pthread_mutex_lock(mutex)
        stopping = true
        pthread_cond_signal(wake)
        pthread_mutex_unlock(mutex)
    }

    private func loop() {
        while true {
            pthread_mutex_lock(mutex)
            while jobs.isEmpty && !stopping { pthread_cond_wait(wake, mutex) }
            if jobs.isEmpty {
                pthread_mutex_unlock(mutex)
                return
            }
            let job = jobs.removeFirst()
            pthread_mutex_unlock(mutex)
            job()
        }
    }
}
