using System.Text.Json;
using Trellis.Core.Errors;
using Trellis.Core.Messaging;
using Trellis.Core.Topics;

namespace Trellis.Core.Compositions;

/// <summary>Reads the JSON form of a composition and rejects anything else with the path of the problem.</summary>
/// <remarks>
/// Forms: <c>{"pipe":[step,...]}</c>, <c>{"andand":[...]}</c>, <c>{"oror":[...]}</c>,
/// <c>{"batch":[...], "record":true|false}</c>, <c>{"parallel":[...]}</c>; a step is
/// <c>{"topic":"...", "message":any, "timeout":seconds}</c> or a nested composition.
/// </remarks>
public static class CompositionParser
{
    public const int MaxDepth = 16;
    public const int MaxSteps = 256;

    private static readonly string[] ComposerKeys = ["pipe", "andand", "oror", "batch", "parallel"];

    public static Composition Parse(JsonElement element, int maxTopicLength = TopicRules.DefaultMaxLength)
    {
        var steps = 0;
        return ParseNode(element, "composition", 0, ref steps, maxTopicLength);
    }

    public static Composition Parse(string json, int maxTopicLength = TopicRules.DefaultMaxLength)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            return Parse(doc.RootElement, maxTopicLength);
        }
        catch (JsonException e)
        {
            throw TrellisException.Invalid($"composition is not valid JSON: {e.Message}");
        }
    }

    private static Composition ParseNode(JsonElement element, string path, int depth, ref int steps, int maxTopicLength)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw TrellisException.Invalid($"{path} must be an object (a step with \"topic\" or a composer: {string.Join(", ", ComposerKeys)}), not {Describe(element)}");
        }

        if (depth > MaxDepth)
        {
            throw TrellisException.Invalid($"{path} nests deeper than {MaxDepth} levels");
        }

        if (++steps > MaxSteps)
        {
            throw TrellisException.Invalid($"composition has more than {MaxSteps} steps");
        }

        string? composerKey = null;
        foreach (var property in element.EnumerateObject())
        {
            if (Array.IndexOf(ComposerKeys, property.Name) >= 0)
            {
                if (composerKey is not null)
                {
                    throw TrellisException.Invalid($"{path} has both \"{composerKey}\" and \"{property.Name}\": use one composer per object and nest them");
                }

                composerKey = property.Name;
            }
        }

        return composerKey is null
            ? ParseStep(element, path, maxTopicLength)
            : ParseComposer(element, composerKey, path, depth, ref steps, maxTopicLength);
    }

    private static Composer ParseComposer(JsonElement element, string key, string path, int depth, ref int steps, int maxTopicLength)
    {
        var kind = key switch
        {
            "pipe" => ComposerKind.Pipe,
            "andand" => ComposerKind.AndAnd,
            "oror" => ComposerKind.OrOr,
            "batch" => ComposerKind.Batch,
            _ => ComposerKind.Parallel,
        };

        var record = false;
        foreach (var property in element.EnumerateObject())
        {
            if (property.Name == key)
            {
                continue;
            }

            if (property.Name == "record" && kind == ComposerKind.Batch)
            {
                record = property.Value.ValueKind switch
                {
                    JsonValueKind.True => true,
                    JsonValueKind.False => false,
                    _ => throw TrellisException.Invalid($"{path}.record must be true or false, not {Describe(property.Value)}"),
                };
                continue;
            }

            throw TrellisException.Invalid(property.Name == "record"
                ? $"{path}.record is only valid with \"batch\""
                : $"{path} has an unknown key \"{property.Name}\" beside \"{key}\"");
        }

        var list = element.GetProperty(key);
        if (list.ValueKind != JsonValueKind.Array || list.GetArrayLength() == 0)
        {
            throw TrellisException.Invalid($"{path}.{key} must be a non-empty array of steps, not {Describe(list)}");
        }

        var children = new List<Composition>(list.GetArrayLength());
        var i = 0;
        foreach (var child in list.EnumerateArray())
        {
            children.Add(ParseNode(child, $"{path}.{key}[{i++}]", depth + 1, ref steps, maxTopicLength));
        }

        return new Composer(kind, children, record);
    }

    private static RequestStep ParseStep(JsonElement element, string path, int maxTopicLength)
    {
        string? topic = null;
        JsonPayload? message = null;
        TimeSpan? timeout = null;
        foreach (var property in element.EnumerateObject())
        {
            switch (property.Name)
            {
                case "topic":
                    topic = property.Value.ValueKind == JsonValueKind.String
                        ? property.Value.GetString()
                        : throw TrellisException.Invalid($"{path}.topic must be a string, not {Describe(property.Value)}");
                    break;
                case "message":
                    message = JsonPayload.From(property.Value);
                    break;
                case "timeout":
                    timeout = ParseTimeout(property.Value, $"{path}.timeout");
                    break;
                default:
                    throw TrellisException.Invalid($"{path} has an unknown key \"{property.Name}\" (a step takes topic, message and timeout; a composer is one of {string.Join(", ", ComposerKeys)})");
            }
        }

        if (topic is null)
        {
            throw TrellisException.Invalid($"{path} needs a \"topic\" (or a composer key: {string.Join(", ", ComposerKeys)})");
        }

        TopicRules.ValidateTopic(topic, maxTopicLength, $"{path}.topic");
        return new RequestStep(topic, message, timeout);
    }

    /// <summary>Reads a timeout in seconds (a positive number).</summary>
    public static TimeSpan ParseTimeout(JsonElement value, string path)
    {
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out var seconds) || double.IsNaN(seconds) || seconds <= 0 || seconds > TimeSpan.MaxValue.TotalSeconds / 2)
        {
            throw TrellisException.Invalid($"{path} must be a positive number of seconds, not {Describe(value)}");
        }

        return TimeSpan.FromSeconds(seconds);
    }

    private static string Describe(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => $"the number {element.GetRawText()}",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };
}
