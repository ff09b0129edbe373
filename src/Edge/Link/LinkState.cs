namespace Trellis.Edge.Link;

/// <summary>The state of the agent's link to its gateway.</summary>
public enum LinkState
{
    /// <summary>No gateway is configured.</summary>
    Off,

    /// <summary>Dialling (or waiting for the welcome).</summary>
    Connecting,

    Up,

    /// <summary>Lost or refused; the link retries with back-off.</summary>
    Down,
}
