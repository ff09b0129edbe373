namespace Trellis.Grains.Flows;

/// <summary>Settings of the flows (<c>Trellis:Flows</c>).</summary>
public sealed class FlowsOptions
{
    public const string Section = "Trellis:Flows";

    /// <summary>msgflo's default participant timeout.</summary>
    public static readonly TimeSpan DefaultParticipantTimeout = TimeSpan.FromSeconds(600);

    /// <summary>How long a participant that declares no heartbeat stays online after its last announcement (msgflo: 600 s).</summary>
    public TimeSpan ParticipantTimeout { get; set; } = DefaultParticipantTimeout;

    /// <summary>How often a silo that does not hold the <c>fbp</c> queue tries to take it over.</summary>
    public TimeSpan DiscoveryRetry { get; set; } = TimeSpan.FromSeconds(3);
}
