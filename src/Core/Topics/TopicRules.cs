using System.Text;
using Trellis.Core.Errors;

namespace Trellis.Core.Topics;

/// <summary>The rules for topics, slot patterns and group names, with errors that name the problem.</summary>
public static class TopicRules
{
    /// <summary>Default longest topic in UTF-8 bytes (an AMQP routing key holds at most 255).</summary>
    public const int DefaultMaxLength = 255;

    /// <summary>The group a service joins when its caller asks for the default.</summary>
    public const string DefaultGroup = "_default";

    public const int MaxGroupLength = 100;

    public const char Wildcard = '*';

    public static bool HasWildcard(string pattern) => pattern.Contains(Wildcard);

    /// <summary>Checks a concrete topic: what requests and signals are published to, and what services listen on.</summary>
    public static void ValidateTopic(string? topic, int maxLength = DefaultMaxLength, string what = "topic")
    {
        CheckCommon(topic, maxLength, what);
        if (HasWildcard(topic!))
        {
            throw TrellisException.Invalid($"{what} '{topic}' contains the wildcard '*': only slots (signal subscriptions) may use wildcards");
        }
    }

    /// <summary>Checks a slot pattern: a topic in which <c>*</c> matches any run of characters, dots included.</summary>
    public static void ValidatePattern(string? pattern, int maxLength = DefaultMaxLength, string what = "topic")
    {
        CheckCommon(pattern, maxLength, what);
    }

    /// <summary>Checks a group name; <paramref name="required"/> is true for services.</summary>
    public static void ValidateGroup(string? group, bool required, string what = "group")
    {
        if (group is null || group.Length == 0)
        {
            if (required)
            {
                throw TrellisException.Invalid($"{what} is required for services (every service belongs to an exclusion group; use \"{DefaultGroup}\" for the default one)");
            }

            return;
        }

        if (group.Length > MaxGroupLength)
        {
            throw TrellisException.Invalid($"{what} is {group.Length} characters long; the limit is {MaxGroupLength}");
        }

        foreach (var c in group)
        {
            if (char.IsControl(c) || char.IsWhiteSpace(c) || c is '*' or '#')
            {
                throw TrellisException.Invalid($"{what} '{Printable(group)}' contains '{Printable(c.ToString())}': groups may not contain whitespace, control characters, '*' or '#'");
            }
        }
    }

    private static void CheckCommon(string? topic, int maxLength, string what)
    {
        if (string.IsNullOrEmpty(topic))
        {
            throw TrellisException.Invalid($"{what} is required and may not be empty");
        }

        var bytes = Encoding.UTF8.GetByteCount(topic);
        if (bytes > maxLength)
        {
            throw TrellisException.Invalid($"{what} is {bytes} bytes long; the limit is {maxLength}");
        }

        foreach (var c in topic)
        {
            if (char.IsControl(c) || char.IsWhiteSpace(c))
            {
                throw TrellisException.Invalid($"{what} '{Printable(topic)}' contains whitespace or a control character");
            }

            if (c == '#')
            {
                throw TrellisException.Invalid($"{what} '{topic}' contains '#', which is reserved");
            }
        }

        if (topic[0] == '.' || topic[^1] == '.' || topic.Contains("..", StringComparison.Ordinal))
        {
            throw TrellisException.Invalid($"{what} '{topic}' has an empty segment: topics are dot-separated words");
        }
    }

    private static string Printable(string s)
    {
        var sb = new StringBuilder(s.Length);
        foreach (var c in s)
        {
            sb.Append(char.IsControl(c) ? $"\\u{(int)c:x4}" : c);
            if (sb.Length > 80)
            {
                sb.Append('…');
                break;
            }
        }

        return sb.ToString();
    }
}
