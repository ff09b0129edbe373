using System.Text;
using Trellis.Core.Messaging;

namespace Trellis.Grains.Apps;

/// <summary>An app (%gall agent) as an Orleans grain keyed by its path (<c>chat</c>, <c>chat/room-1</c>).</summary>
/// <remarks>
/// One entry for every event, because an app is an event handler: the methods are <c>create {agent, init}</c>,
/// <c>poke {mark, data, source?, wire?}</c>, <c>watch {path, subscriber | app + wire}</c>, <c>leave {path, subscriber}</c>,
/// <c>peek {path}</c>, <c>sign {kind, wire, app, path?, data?, error?}</c>, <c>kill</c>, <c>wipe</c>, <c>info</c>, and between
/// apps <c>adopt</c>/<c>disown {child}</c>. A call that changes the app is remembered by its message id, so a retried one is
/// answered as before without running the agent again.
/// </remarks>
public interface IAppGrain : IGrainWithStringKey
{
    Task<AppAnswer> Call(AppCall call);
}

/// <summary>One event for an app: what to do, its JSON argument (null for none), and the id that makes retries recognisable.</summary>
[GenerateSerializer, Immutable]
public sealed record AppCall([property: Id(0)] string Method, [property: Id(1)] string? Data, [property: Id(2)] string MessageId);

/// <summary>An app's answer: a Gilmour code and its JSON data (<c>{ack: true, ...}</c>, <c>{nack: "..."}</c> or an error text).</summary>
[GenerateSerializer, Immutable]
public sealed record AppAnswer([property: Id(0)] int Code, [property: Id(1)] byte[] Data)
{
    public static AppAnswer From(Message message) => new(message.Code, message.Data.IsNull ? "null"u8.ToArray() : message.Data.Utf8.ToArray());

    public Message ToMessage() => new(JsonPayload.FromTrustedUtf8(Data), Code);

    public override string ToString() => $"{Code} {Encoding.UTF8.GetString(Data)}";
}
