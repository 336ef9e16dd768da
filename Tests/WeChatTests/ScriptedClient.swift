import TestSupport

@testable import WeChat

/// A client of `transport` as the client tests make one: on a virtual clock, retrying without jitter, logging
/// to `logs`.
func scriptedClient(
    _ transport: ScriptedWeChat,
    apiBase: String = "http://wechat.test",
    clock: VirtualClock = VirtualClock(),
    logs: LogRecorder = LogRecorder()
) -> WeChatClient {
    WeChatClient(
        apiBase: apiBase,
        transport: transport,
        clock: clock,
        retryPolicy: RetryPolicy(jitter: { $0 }),
        logger: logs.logger()
    )
}
