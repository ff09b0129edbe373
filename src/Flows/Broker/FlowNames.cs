using System.Text;
using Trellis.Core.Errors;

namespace Trellis.Flows.Broker;

/// <summary>The rules both brokers apply to queue and exchange names before touching the broker, and the names msgflo derives.</summary>
public static class FlowNames
{
    /// <summary>The discovery queue participants announce themselves on.</summary>
    public const string DiscoveryQueue = "fbp";

    /// <summary>The fanout exchange a queue's rejected messages go to (<c>x-dead-letter-exchange</c> of an inqueue).</summary>
    public static string DeadLetterExchange(string queue) => "dead-" + queue;

    /// <summary>The direct exchange a round-robin binding puts between the source exchange and the target queue.</summary>
    public static string RoundRobinExchange(string source) => "out-" + source;

    /// <summary>Throws InvalidArgument unless <paramref name="name"/> is 1 to 255 UTF-8 bytes (an AMQP short string).</summary>
    public static string Validate(string? name, string what)
    {
        if (string.IsNullOrEmpty(name))
        {
            throw TrellisException.Invalid($"The {what} name may not be empty");
        }

        if (Encoding.UTF8.GetByteCount(name) > 255)
        {
            throw TrellisException.Invalid($"The {what} name '{name[..Math.Min(name.Length, 40)]}…' is longer than 255 bytes");
        }

        return name;
    }

    /// <summary>As <see cref="Validate"/>, and not starting with <c>amq.</c>, which AMQP reserves for the broker's own.</summary>
    public static string ValidateDeclared(string? name, string what)
    {
        Validate(name, what);
        if (name!.StartsWith("amq.", StringComparison.Ordinal))
        {
            throw TrellisException.Invalid($"The {what} name '{name}' starts with 'amq.', which AMQP reserves for the broker");
        }

        return name;
    }

    /// <summary>Throws InvalidArgument unless the binding names what its kind needs: a pubsub binding its source exchange
    /// and target queue; a round-robin binding any of source, target and deadletter (msgflo allows either end missing).</summary>
    public static FlowBinding Validate(FlowBinding binding)
    {
        ArgumentNullException.ThrowIfNull(binding);
        if (binding.Kind == FlowBindingKind.PubSub)
        {
            Validate(binding.Source, "binding source exchange");
            Validate(binding.Target, "binding target queue");
            return binding;
        }

        // A round-robin binding declares out-<source> and dead-<target>.
        if (binding.Source is not null)
        {
            ValidateDeclared(binding.Source, "binding source exchange");
        }

        if (binding.Target is not null)
        {
            ValidateDeclared(binding.Target, "binding target queue");
        }

        if (binding.DeadLetter is not null)
        {
            Validate(binding.DeadLetter, "binding deadletter queue");
        }

        return binding;
    }
}
