namespace Trellis.Core.Topics;

/// <summary>Finds the subscriptions whose topic or glob pattern matches a topic, at a cost that does not
/// grow with the number of subscriptions.</summary>
/// <remarks>Exact topics live in a hash table. A pattern is filed in a trie under the dot-separated words
/// before its first <c>*</c>; a lookup walks the topic's words down the trie and tests only the patterns
/// it passes. Not thread-safe: callers serialise changes and lookups (see <c>TopicRouter</c>).</remarks>
public sealed class TopicIndex<T>
    where T : class
{
    // Arrays, replaced on change: lookups touch one object less than a List would (routing is memory-bound).
    private readonly Dictionary<string, T[]> _exact = new(StringComparer.Ordinal);
    private readonly Dictionary<string, T[]>.AlternateLookup<ReadOnlySpan<char>> _exactLookup;
    private readonly Node _root = new();

    public TopicIndex() => _exactLookup = _exact.GetAlternateLookup<ReadOnlySpan<char>>();

    /// <summary>Subscriptions held.</summary>
    public int Count { get; private set; }

    public void Add(string pattern, T item)
    {
        if (!TopicRules.HasWildcard(pattern))
        {
            _exact[pattern] = _exact.TryGetValue(pattern, out var items) ? [.. items, item] : [item];
        }
        else
        {
            var node = _root;
            foreach (var word in LiteralWords(pattern))
            {
                node.Children ??= new Dictionary<string, Node>(StringComparer.Ordinal);
                if (!node.Children.TryGetValue(word, out var child))
                {
                    node.Children[word] = child = new Node();
                }

                node = child;
            }

            node.Patterns = node.Patterns is null ? [(pattern, item)] : [.. node.Patterns, (pattern, item)];
        }

        Count++;
    }

    public bool Remove(string pattern, T item)
    {
        bool removed;
        if (!TopicRules.HasWildcard(pattern))
        {
            removed = _exact.TryGetValue(pattern, out var items) && Array.IndexOf(items, item) >= 0;
            if (removed)
            {
                var rest = Array.FindAll(items!, x => !ReferenceEquals(x, item));
                if (rest.Length == 0)
                {
                    _exact.Remove(pattern);
                }
                else
                {
                    _exact[pattern] = rest;
                }
            }
        }
        else
        {
            removed = RemovePattern(_root, LiteralWords(pattern).ToArray(), 0, pattern, item);
        }

        if (removed)
        {
            Count--;
        }

        return removed;
    }

    /// <summary>Adds every subscription matching <paramref name="topic"/> to <paramref name="results"/>.</summary>
    public void Match(string topic, List<T> results)
    {
        if (_exactLookup.TryGetValue(topic, out var exact))
        {
            results.AddRange(exact);
        }

        var node = _root;
        var rest = topic.AsSpan();
        while (true)
        {
            if (node.Patterns is { } patterns)
            {
                foreach (var (pattern, item) in patterns)
                {
                    if (Glob.IsMatch(pattern, topic))
                    {
                        results.Add(item);
                    }
                }
            }

            if (node.Children is null || rest.IsEmpty)
            {
                return;
            }

            var dot = rest.IndexOf('.');
            var word = dot < 0 ? rest : rest[..dot];
            rest = dot < 0 ? ReadOnlySpan<char>.Empty : rest[(dot + 1)..];
            if (!node.Children.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(word, out var child))
            {
                return;
            }

            node = child;
        }
    }

    /// <summary>The whole words before the word holding the first wildcard.</summary>
    private static IEnumerable<string> LiteralWords(string pattern)
    {
        var star = pattern.IndexOf('*');
        var literal = pattern[..star];
        var lastDot = literal.LastIndexOf('.');
        if (lastDot < 0)
        {
            yield break;
        }

        foreach (var word in literal[..lastDot].Split('.'))
        {
            yield return word;
        }
    }

    private static bool RemovePattern(Node node, string[] words, int depth, string pattern, T item)
    {
        if (depth == words.Length)
        {
            var index = node.Patterns is null ? -1 : Array.FindIndex(node.Patterns, p => p.Pattern == pattern && ReferenceEquals(p.Item, item));
            if (index < 0)
            {
                return false;
            }

            node.Patterns = node.Patterns!.Length == 1 ? null : [.. node.Patterns[..index], .. node.Patterns[(index + 1)..]];
            return true;
        }

        if (node.Children is null || !node.Children.TryGetValue(words[depth], out var child))
        {
            return false;
        }

        var removed = RemovePattern(child, words, depth + 1, pattern, item);
        if (removed && child.IsEmpty)
        {
            node.Children.Remove(words[depth]);
        }

        return removed;
    }

    private sealed class Node
    {
        public Dictionary<string, Node>? Children;
        public (string Pattern, T Item)[]? Patterns;

        public bool IsEmpty => (Children is null || Children.Count == 0) && Patterns is null;
    }
}
