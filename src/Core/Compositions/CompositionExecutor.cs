using System.Text.Json;
using System.Text.Json.Nodes;
using Trellis.Core.Bus;
using Trellis.Core.Messaging;

namespace Trellis.Core.Compositions;

/// <summary>Runs compositions as requests on a <see cref="MessageBus"/>.</summary>
public static class CompositionExecutor
{
    /// <summary>Runs a composition. <paramref name="input"/> is the starting input: it flows through a pipe,
    /// and every step of the other composers starts from it.</summary>
    public static Task<CompositionResult> ExecuteAsync(
        this MessageBus bus, Composition composition, JsonPayload input, TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        RunAsync(bus, composition, input, timeout, cancellationToken);

    private static async Task<CompositionResult> RunAsync(MessageBus bus, Composition node, JsonPayload input, TimeSpan? timeout, CancellationToken ct)
    {
        switch (node)
        {
            case RequestStep step:
                var data = Merge(input, step.Message);
                return new CompositionResult([await bus.RequestAsync(step.Topic, data, step.Timeout ?? timeout, ct).ConfigureAwait(false)]);

            case Composer { Kind: ComposerKind.Parallel } parallel:
                var running = new Task<CompositionResult>[parallel.Steps.Count];
                for (var i = 0; i < running.Length; i++)
                {
                    running[i] = RunAsync(bus, parallel.Steps[i], input, timeout, ct);
                }

                var results = await Task.WhenAll(running).ConfigureAwait(false);
                return new CompositionResult(results.Select(Collapse).ToArray());

            case Composer composer:
                return await RunSequenceAsync(bus, composer, input, timeout, ct).ConfigureAwait(false);

            default:
                throw new ArgumentOutOfRangeException(nameof(node), node, "unknown composition node");
        }
    }

    private static async Task<CompositionResult> RunSequenceAsync(MessageBus bus, Composer composer, JsonPayload input, TimeSpan? timeout, CancellationToken ct)
    {
        var recorded = new List<Message>(composer.Steps.Count);
        Message last = default;
        var carried = input;
        foreach (var step in composer.Steps)
        {
            var stepInput = composer.Kind == ComposerKind.Pipe ? carried : input;
            last = Collapse(await RunAsync(bus, step, stepInput, timeout, ct).ConfigureAwait(false));
            recorded.Add(last);
            carried = last.Data;

            var stop = composer.Kind switch
            {
                ComposerKind.Pipe or ComposerKind.AndAnd => !last.IsOk,
                ComposerKind.OrOr => last.IsOk,
                _ => false,
            };
            if (stop)
            {
                break;
            }
        }

        return composer.Kind == ComposerKind.Batch && composer.Record
            ? new CompositionResult(recorded)
            : new CompositionResult([last]);
    }

    /// <summary>One message standing for a nested result: itself when single, else the array of the data
    /// with the largest code.</summary>
    private static Message Collapse(CompositionResult result)
    {
        if (result.Messages.Count == 1)
        {
            return result.Messages[0];
        }

        var array = new JsonArray();
        foreach (var message in result.Messages)
        {
            array.Add(message.Data.IsNull ? null : JsonNode.Parse(message.Data.Utf8.Span));
        }

        return new Message(JsonPayload.FromTrustedUtf8(JsonSerializer.SerializeToUtf8Bytes(array)), result.Code);
    }

    /// <summary>Merges a step's own message into its input: keys of the step's object win; a non-object
    /// message replaces the input; no message keeps the input.</summary>
    public static JsonPayload Merge(JsonPayload input, JsonPayload? message)
    {
        if (message is not { } own || own.IsNull)
        {
            return input;
        }

        if (input.IsNull)
        {
            return own;
        }

        var target = JsonNode.Parse(input.Utf8.Span);
        var source = JsonNode.Parse(own.Utf8.Span);
        if (target is not JsonObject targetObject || source is not JsonObject sourceObject)
        {
            return own;
        }

        foreach (var (key, value) in sourceObject.ToArray())
        {
            sourceObject.Remove(key);
            targetObject[key] = value;
        }

        return JsonPayload.FromTrustedUtf8(JsonSerializer.SerializeToUtf8Bytes(targetObject));
    }
}
