using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace Trellis.Api.Tests.Flows.Fbp;

/// <summary>Reads everything the runtime sends on an <see cref="FbpClient"/>'s socket in the background, so that a test can
/// wait for replies and pushed events in any order and check that something does not arrive within a bounded time
/// (a pending receive is never cancelled, which would abort the socket).</summary>
internal sealed class FbpInbox
{
    private readonly FbpClient _client;
    private readonly Channel<JsonObject> _incoming = Channel.CreateUnbounded<JsonObject>();
    private readonly List<JsonObject> _unclaimed = [];
    private readonly List<string> _seen = [];

    private FbpInbox(FbpClient client) => _client = client;

    /// <summary>Starts reading <paramref name="client"/>'s socket; use only the inbox to receive from then on.</summary>
    public static FbpInbox Start(FbpClient client)
    {
        var inbox = new FbpInbox(client);
        _ = Task.Run(inbox.PumpAsync);
        return inbox;
    }

    private async Task PumpAsync()
    {
        var buffer = new byte[64 * 1024];
        using var text = new MemoryStream();
        try
        {
            while (true)
            {
                var result = await _client.Socket.ReceiveAsync(buffer, CancellationToken.None);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }

                text.Write(buffer, 0, result.Count);
                if (result.EndOfMessage)
                {
                    _incoming.Writer.TryWrite(JsonNode.Parse(Encoding.UTF8.GetString(text.ToArray()))!.AsObject());
                    text.SetLength(0);
                }
            }

            _incoming.Writer.TryComplete(new InvalidOperationException("the runtime closed the connection"));
        }
        catch (Exception e)
        {
            _incoming.Writer.TryComplete(e);
        }
    }

    /// <summary>The first message (kept from before, or arriving within <paramref name="timeout"/>) that matches.</summary>
    public async Task<JsonObject> ExpectAsync(string what, Func<JsonObject, bool> match, TimeSpan? timeout = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(30);
        var found = await NextMatchAsync(match, limit);
        return found ?? throw new TimeoutException($"Timed out after {limit.TotalSeconds:0.#} s waiting for {what}; seen: {string.Join(", ", _seen)}");
    }

    /// <summary>Asserts that no message matching <paramref name="match"/> arrives within <paramref name="duration"/>.</summary>
    public async Task NoneWithinAsync(string what, Func<JsonObject, bool> match, TimeSpan duration)
    {
        var found = await NextMatchAsync(match, duration);
        Assert.True(found is null, $"expected no {what} within {duration.TotalSeconds:0.#} s, got {found?.ToJsonString()}");
    }

    /// <summary>Sends a request and returns the payload of its reply with this command (an error reply fails the test).</summary>
    public async Task<JsonNode?> RequestAsync(string protocol, string command, JsonNode? payload, string? replyCommand = null)
    {
        var id = await _client.SendAsync(protocol, command, payload);
        var reply = await ExpectAsync($"the reply to {protocol}:{command} ({id})", m => (string?)m["responseTo"] == id && (string?)m["protocol"] == protocol
            && ((string?)m["command"] == (replyCommand ?? command) || (string?)m["command"] == "error"));
        Assert.True((string?)reply["command"] != "error", $"{protocol}:{command} was refused: {reply.ToJsonString()}");
        return reply["payload"];
    }

    /// <summary>Sends a request that must be refused; returns the error's message.</summary>
    public async Task<string> ErrorAsync(string protocol, string command, JsonNode? payload)
    {
        var id = await _client.SendAsync(protocol, command, payload);
        return await ErrorReplyAsync(id, $"{protocol}:{command}");
    }

    /// <summary>The message of the <c>error</c> that answers request <paramref name="id"/>.</summary>
    public async Task<string> ErrorReplyAsync(string id, string what)
    {
        var reply = await ExpectAsync($"the error answering {what} ({id})", m => (string?)m["responseTo"] == id);
        Assert.True((string?)reply["command"] == "error", $"{what} should have been refused: {reply.ToJsonString()}");
        return (string)reply["payload"]!["message"]!;
    }

    private async Task<JsonObject?> NextMatchAsync(Func<JsonObject, bool> match, TimeSpan limit)
    {
        var kept = _unclaimed.FindIndex(m => match(m));
        if (kept >= 0)
        {
            var message = _unclaimed[kept];
            _unclaimed.RemoveAt(kept);
            return message;
        }

        using var deadline = new CancellationTokenSource(limit);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token, TestContext.Current.CancellationToken);
        while (true)
        {
            JsonObject message;
            try
            {
                message = await _incoming.Reader.ReadAsync(linked.Token);
            }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested)
            {
                return null;
            }

            _seen.Add($"{message["protocol"]}:{message["command"]}");
            if (match(message))
            {
                return message;
            }

            _unclaimed.Add(message);
        }
    }
}
