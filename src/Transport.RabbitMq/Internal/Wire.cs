using System.Buffers.Text;
using System.Globalization;
using System.Text;
using RabbitMQ.Client;
using Trellis.Core.Errors;
using Trellis.Core.Messaging;
using Trellis.Core.Transport;

namespace Trellis.Transport.RabbitMq.Internal;

/// <summary>How a <see cref="TransportMessage"/> travels as an AMQP message.</summary>
/// <remarks>
/// The body is the JSON payload itself (empty for null). The envelope rides in standard properties where
/// AMQP has one (correlation-id = sender, reply-to, message-id; the topic is the routing key) and in a few
/// headers otherwise. Headers are written only when they differ from their defaults, so a request and a
/// plain 200 reply carry no header table at all: a table costs a dictionary, its keys and boxed values on
/// both ends, which P2 showed as a visible share of the work per request.
/// The requester's timeout travels as the per-message TTL (expiration, in milliseconds): the handler reads
/// it back, and the broker drops a request that waited in its queue longer than anyone waits for the reply.
/// A durable (persistent) request is handled even after its requester gave up, so its timeout travels in
/// a header instead.
/// </remarks>
internal static class Wire
{
    /// <summary>RabbitMQ's direct reply-to pseudo-queue; the broker rewrites it per channel on publish.</summary>
    public const string DirectReplyTo = "amq.rabbitmq.reply-to";

    /// <summary>The reply code when it is not 200 (AMQP signed 32-bit integer).</summary>
    public const string CodeHeader = "trellis-code";

    /// <summary>The requester's timeout in milliseconds on a persistent (durable) message, which must not
    /// expire in its queue when the requester stops waiting: a durable request is handled regardless.</summary>
    public const string TimeoutHeader = "trellis-timeout";

    /// <summary>W3C trace context, under its standard name so other AMQP tooling recognises it.</summary>
    public const string TraceParentHeader = "traceparent";

    /// <summary>W3C vendor trace state, sent beside <see cref="TraceParentHeader"/> when the publisher has any.</summary>
    public const string TraceStateHeader = "tracestate";

    /// <summary>Marks messages written by Trellis, whose bodies were validated where they entered the cluster.</summary>
    public const string AppId = "trellis";

    private static Expiration? s_lastExpiration;

    public static BasicProperties Properties(TransportMessage message, bool persistent)
    {
        var properties = new BasicProperties { AppId = AppId };

        if (persistent)
        {
            properties.DeliveryMode = DeliveryModes.Persistent;
        }

        if (message.Sender.Length > 0)
        {
            properties.CorrelationId = message.Sender;
        }

        if (message.ReplyTo is not null)
        {
            properties.ReplyTo = message.ReplyTo;
        }

        if (message.MessageId is not null)
        {
            properties.MessageId = message.MessageId;
        }

        var timeoutHeader = false;
        if (message.TimeoutMs > 0)
        {
            if (persistent)
            {
                timeoutHeader = true;
            }
            else
            {
                properties.Expiration = ExpirationText(message.TimeoutMs);
            }
        }

        if (message.Code != Codes.Ok || message.TraceParent is not null || timeoutHeader)
        {
            // One spare slot: with confirm tracking the client adds its sequence-number header.
            var table = new Dictionary<string, object?>(4, StringComparer.Ordinal);
            if (message.Code != Codes.Ok)
            {
                table[CodeHeader] = message.Code;
            }

            if (timeoutHeader)
            {
                table[TimeoutHeader] = message.TimeoutMs;
            }

            if (message.TraceParent is not null)
            {
                table[TraceParentHeader] = message.TraceParent;
                if (message.TraceState is not null)
                {
                    table[TraceStateHeader] = message.TraceState;
                }
            }

            properties.Headers = table;
        }

        return properties;
    }

    /// <summary>Most requests use the configured default timeout: keep its text rather than format it each time.</summary>
    private static string ExpirationText(int milliseconds)
    {
        var last = Volatile.Read(ref s_lastExpiration);
        if (last is null || last.Milliseconds != milliseconds)
        {
            last = new Expiration(milliseconds, milliseconds.ToString(CultureInfo.InvariantCulture));
            Volatile.Write(ref s_lastExpiration, last);
        }

        return last.Text;
    }

    /// <summary>Reads a delivered message, copying the body out of the client's pooled buffer.</summary>
    /// <exception cref="TrellisException">A message from another AMQP client whose body is not JSON.</exception>
    public static TransportMessage Read(string routingKey, IReadOnlyBasicProperties properties, ReadOnlyMemory<byte> body)
    {
        var code = Codes.Ok;
        var timeout = 0;
        string? traceParent = null;
        string? traceState = null;
        if (properties.Expiration is { Length: > 0 } expiration
            && int.TryParse(expiration, NumberStyles.None, CultureInfo.InvariantCulture, out var ttl))
        {
            timeout = ttl;
        }

        if (properties.Headers is { Count: > 0 } headers)
        {
            if (headers.TryGetValue(CodeHeader, out var c))
            {
                code = ToInt(c, Codes.Ok);
            }

            if (headers.TryGetValue(TimeoutHeader, out var t))
            {
                timeout = Math.Max(0, ToInt(t, timeout));
            }

            if (headers.TryGetValue(TraceParentHeader, out var tp))
            {
                traceParent = HeaderText(tp);
                if (traceParent is not null && headers.TryGetValue(TraceStateHeader, out var ts))
                {
                    traceState = HeaderText(ts);
                }
            }
        }

        JsonPayload data;
        if (body.IsEmpty)
        {
            data = JsonPayload.Null;
        }
        else if (string.Equals(properties.AppId, AppId, StringComparison.Ordinal))
        {
            data = JsonPayload.FromTrustedUtf8(body.ToArray());
        }
        else
        {
            data = JsonPayload.Parse(body.ToArray(), "the AMQP message body");
        }

        return new TransportMessage
        {
            Topic = routingKey,
            Data = data,
            Code = code,
            Sender = properties.CorrelationId ?? "",
            ReplyTo = properties.ReplyTo,
            MessageId = properties.MessageId,
            TimeoutMs = timeout,
            TraceParent = traceParent,
            TraceState = traceState,
        };
    }

    /// <summary>A text header as AMQP clients send it: a long string (bytes) or, from some clients, a string.</summary>
    public static string? HeaderText(object? value) => value switch
    {
        byte[] bytes => Encoding.UTF8.GetString(bytes),
        string s => s,
        _ => null,
    };

    /// <summary>Header integers as other AMQP clients may send them: any integer type or decimal text.</summary>
    private static int ToInt(object? value, int fallback) => value switch
    {
        int i => i,
        long l when l is >= int.MinValue and <= int.MaxValue => (int)l,
        short s => s,
        byte b => b,
        sbyte sb => sb,
        ushort us => us,
        uint ui when ui <= int.MaxValue => (int)ui,
        byte[] text when Utf8Parser.TryParse(text, out int parsed, out var used) && used == text.Length => parsed,
        string text when int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed) => parsed,
        _ => fallback,
    };

    private sealed record Expiration(int Milliseconds, string Text);
}
