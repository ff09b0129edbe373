using System.Text;
using Trellis.Core.Errors;
using Trellis.Core.Topics;
using Trellis.Core.Transport;
using Trellis.Transport.RabbitMq.Internal;
using Xunit;

namespace Trellis.Transport.RabbitMq.Tests;

/// <summary>How glob patterns, queue names and options map onto AMQP, without a broker.</summary>
public sealed class TopologyTests
{
    [Theory]
    [InlineData("orders.created", "orders.created")]
    [InlineData("*", "#")]
    [InlineData("orders.*", "orders.#")]
    [InlineData("orders.eu.*", "orders.eu.#")]
    [InlineData("orders.cre*", "orders.#")]
    [InlineData("orders.a*z", "orders.#")]
    [InlineData("*.errors", "#.errors")]
    [InlineData("x*.errors.fatal", "#.errors.fatal")]
    [InlineData("a.*.mid.*", "a.#")]
    [InlineData("a.*.b", "a.#.b")]
    [InlineData("a.b*c.d*e.f", "a.#.f")]
    [InlineData("ab*", "#")]
    public void Glob_patterns_bind_a_key_that_receives_at_least_what_they_match(string pattern, string bindingKey)
    {
        Assert.Equal(bindingKey, Topology.BindingKey(pattern));
    }

    [Fact]
    public void Every_topic_a_pattern_matches_is_routed_by_its_binding_key()
    {
        var patterns = new[] { "*", "a.*", "a*", "*.b", "a.*.b", "a.b*c.d", "*x.y*", "a.*.m.*", "a.b", "a.b.*.c.*.d", "*a*" };
        var words = new[] { "a", "b", "c", "d", "m", "x", "y", "ab", "bc", "xa", "ya", "bxc" };
        var topics = new List<string>();
        foreach (var w1 in words)
        {
            topics.Add(w1);
            foreach (var w2 in words)
            {
                topics.Add($"{w1}.{w2}");
                foreach (var w3 in words)
                {
                    topics.Add($"{w1}.{w2}.{w3}");
                    topics.Add($"{w1}.{w2}.{w3}.b");
                    topics.Add($"a.{w1}.{w2}.{w3}.d");
                }
            }
        }

        var matched = 0;
        foreach (var pattern in patterns)
        {
            var key = Topology.BindingKey(pattern);
            foreach (var topic in topics)
            {
                if (Glob.IsMatch(pattern, topic))
                {
                    matched++;
                    Assert.True(AmqpTopicMatches(key, topic), $"pattern '{pattern}' matches '{topic}' but its binding key '{key}' does not route it");
                }
            }
        }

        Assert.True(matched > 1000, $"only {matched} matching (pattern, topic) pairs: the table is too thin to prove anything");
    }

    [Fact]
    public void Queue_names_are_the_shared_name_under_the_prefix()
    {
        var spec = new QueueSpec(ExchangeKind.Requests, "billing.charge", "workers");
        Assert.Equal("trellis.requests.billing.charge.workers", Topology.QueueName("trellis", spec));
        Assert.Equal("blue.requests.billing.charge.workers", Topology.QueueName("blue", spec));
    }

    [Fact]
    public void Long_queue_names_are_hashed_to_255_bytes_deterministically_and_distinctly()
    {
        var topic = string.Join('.', Enumerable.Repeat("segment", 31)); // 247 characters
        var a = Topology.QueueName("trellis", new QueueSpec(ExchangeKind.Signals, topic + ".a", "group"));
        var b = Topology.QueueName("trellis", new QueueSpec(ExchangeKind.Signals, topic + ".b", "group"));
        var again = Topology.QueueName("trellis", new QueueSpec(ExchangeKind.Signals, topic + ".a", "group"));

        Assert.True(Encoding.UTF8.GetByteCount(a) <= Topology.MaxNameBytes, $"{Encoding.UTF8.GetByteCount(a)} bytes");
        Assert.Equal(a, again);
        Assert.NotEqual(a, b);
        Assert.StartsWith("trellis.signals.segment.segment.", a);
        Assert.Matches("~[0-9a-f]{32}$", a);
    }

    [Fact]
    public void Hashing_never_splits_a_multibyte_character()
    {
        var name = "trellis.signals." + new string('é', 200) + "😀😀😀😀" + new string('ü', 100);
        var shortened = Topology.Shorten(name);
        var bytes = Encoding.UTF8.GetBytes(shortened);

        Assert.True(bytes.Length <= Topology.MaxNameBytes, $"{bytes.Length} bytes");
        Assert.Equal(shortened, new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes));
        Assert.Equal("trellis.ok", Topology.Shorten("trellis.ok"));
    }

    [Theory]
    [InlineData(null, "trellis", "Uri is required")]
    [InlineData("http://localhost/", "trellis", "must be an absolute amqp:// or amqps:// URI")]
    [InlineData("amqp://localhost/", "", "Prefix must be 1 to 64 characters")]
    [InlineData("amqp://localhost/", "amq.mine", "reserves")]
    [InlineData("amqp://localhost/", "has space", "may hold only")]
    public void Options_name_the_bad_setting(string? uri, string prefix, string expected)
    {
        var options = new RabbitMqOptions { Uri = uri is null ? null : new Uri(uri), Prefix = prefix };
        var e = Assert.Throws<TrellisException>(() => options.Validate());
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.StartsWith(RabbitMqOptions.Section + ":", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Options_reject_out_of_range_numbers_and_keep_passwords_out_of_messages()
    {
        var prefetch = Assert.Throws<TrellisException>(() => new RabbitMqOptions { Uri = new Uri("amqp://h/"), MaxPrefetch = 70_000 }.Validate());
        Assert.Contains("MaxPrefetch must be between 1 and 65535 (was 70000)", prefetch.Message);

        var channels = Assert.Throws<TrellisException>(() => new RabbitMqOptions { Uri = new Uri("amqp://h/"), RequestChannels = 0 }.Validate());
        Assert.Contains("RequestChannels", channels.Message);

        var scheme = Assert.Throws<TrellisException>(() => new RabbitMqOptions { Uri = new Uri("http://user:secret@h/") }.Validate());
        Assert.DoesNotContain("secret", scheme.Message);
    }

    [Fact]
    public void Exchanges_are_named_by_the_prefix()
    {
        var options = new RabbitMqOptions { Uri = new Uri("amqp://h/"), Prefix = "blue" }.Validate();
        Assert.Equal(("blue.requests", "blue.signals", "blue.durable"), (options.RequestsExchange, options.SignalsExchange, options.DurableExchange));
    }

    /// <summary>AMQP 0-9-1 topic matching: <c>*</c> is exactly one word, <c>#</c> zero or more.</summary>
    private static bool AmqpTopicMatches(string bindingKey, string routingKey)
    {
        return Match(bindingKey.Split('.'), 0, routingKey.Split('.'), 0);

        static bool Match(string[] key, int k, string[] words, int w)
        {
            if (k == key.Length)
            {
                return w == words.Length;
            }

            if (key[k] == "#")
            {
                for (var skip = w; skip <= words.Length; skip++)
                {
                    if (Match(key, k + 1, words, skip))
                    {
                        return true;
                    }
                }

                return false;
            }

            return w < words.Length && (key[k] == "*" || key[k] == words[w]) && Match(key, k + 1, words, w + 1);
        }
    }
}
