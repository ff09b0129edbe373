using System.Net;
using Trellis.Core.Errors;

namespace Trellis.Hosting.Cluster;

/// <summary>How the process joins the Orleans cluster (<c>Trellis:Cluster</c>).</summary>
public sealed class ClusterSettings
{
    public const string Section = "Trellis:Cluster";

    /// <summary><c>Localhost</c> (default: one silo on this machine, nothing to run) or <c>Postgres</c> (ADO.NET clustering
    /// on <see cref="PostgresConnectionString"/>).</summary>
    public string Provider { get; set; } = "Localhost";

    /// <summary>Identifies the service across deployments; grain state and reminders are keyed by it.</summary>
    public string ServiceId { get; set; } = "trellis";

    /// <summary>Identifies one deployment: silos and gateways with the same id form one cluster.</summary>
    public string ClusterId { get; set; } = "trellis";

    /// <summary>The silo-to-silo port.</summary>
    public int SiloPort { get; set; } = 11111;

    /// <summary>The port Orleans clients (gateway processes) connect to.</summary>
    public int GatewayPort { get; set; } = 30000;

    /// <summary>The address other silos and gateways reach this silo at: an IP address, or a host name resolved at start-up
    /// (a container's service name). A silo advertised off loopback listens on every interface.</summary>
    public string AdvertisedAddress { get; set; } = "127.0.0.1";

    /// <summary>The PostgreSQL database of clustering (and, with <c>Trellis:Storage:Provider=Postgres</c>, of grain state and
    /// reminders); falls back to <c>Trellis:Storage:Postgres:ConnectionString</c>.</summary>
    public string? PostgresConnectionString { get; set; }

    /// <summary>How long a silo that stopped answering may take to be declared dead (its grains then move).</summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Probes missed before a silo is suspected; with the votes of the others it is then declared dead.</summary>
    public int MissedProbesLimit { get; set; } = 3;

    public bool IsPostgres => string.Equals(Provider, "Postgres", StringComparison.OrdinalIgnoreCase);

    internal IPAddress Address => IPAddress.TryParse(AdvertisedAddress, out var ip)
        ? ip
        : Dns.GetHostAddresses(AdvertisedAddress).FirstOrDefault(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
            ?? throw TrellisException.Invalid($"{Section}:AdvertisedAddress '{AdvertisedAddress}' does not resolve to an IPv4 address");

    public ClusterSettings Validate(string? storageConnectionString)
    {
        if (!IsPostgres && !string.Equals(Provider, "Localhost", StringComparison.OrdinalIgnoreCase))
        {
            throw TrellisException.Invalid($"{Section}:Provider must be Localhost or Postgres (was '{Provider}')");
        }

        if (string.IsNullOrWhiteSpace(ServiceId) || string.IsNullOrWhiteSpace(ClusterId))
        {
            throw TrellisException.Invalid($"{Section}:ServiceId and {Section}:ClusterId must not be empty");
        }

        if (SiloPort is < 1 or > 65535 || GatewayPort is < 1 or > 65535 || SiloPort == GatewayPort)
        {
            throw TrellisException.Invalid($"{Section}:SiloPort and {Section}:GatewayPort must be two different ports from 1 to 65535 (were {SiloPort} and {GatewayPort})");
        }

        if (string.IsNullOrWhiteSpace(AdvertisedAddress) || Uri.CheckHostName(AdvertisedAddress) == UriHostNameType.Unknown)
        {
            throw TrellisException.Invalid($"{Section}:AdvertisedAddress must be an IP address or a host name (was '{AdvertisedAddress}')");
        }

        if (ProbeTimeout <= TimeSpan.Zero || MissedProbesLimit < 1)
        {
            throw TrellisException.Invalid($"{Section}:ProbeTimeout must be positive and {Section}:MissedProbesLimit at least 1");
        }

        PostgresConnectionString ??= storageConnectionString;
        if (IsPostgres && string.IsNullOrWhiteSpace(PostgresConnectionString))
        {
            throw TrellisException.Invalid($"{Section}:Provider is Postgres but neither {Section}:PostgresConnectionString nor Trellis:Storage:Postgres:ConnectionString is set");
        }

        return this;
    }
}

/// <summary>Where silos keep grain state and reminders (<c>Trellis:Storage</c>).</summary>
public sealed class StorageSettings
{
    public const string Section = "Trellis:Storage";

    /// <summary><c>Sqlite</c> (default: a file under ./data), <c>Postgres</c> or <c>Memory</c> (nothing survives a restart).</summary>
    public string Provider { get; set; } = "Sqlite";

    public SqliteSettings Sqlite { get; set; } = new();

    public PostgresSettings Postgres { get; set; } = new();

    public bool IsSqlite => string.Equals(Provider, "Sqlite", StringComparison.OrdinalIgnoreCase);

    public bool IsPostgres => string.Equals(Provider, "Postgres", StringComparison.OrdinalIgnoreCase);

    public bool IsMemory => Provider is { } p && (p.Equals("Memory", StringComparison.OrdinalIgnoreCase) || p.Equals("InMemory", StringComparison.OrdinalIgnoreCase));

    public StorageSettings Validate()
    {
        if (!IsSqlite && !IsPostgres && !IsMemory)
        {
            throw TrellisException.Invalid($"{Section}:Provider must be Sqlite, Postgres or Memory (was '{Provider}')");
        }

        if (IsSqlite && string.IsNullOrWhiteSpace(Sqlite.Path))
        {
            throw TrellisException.Invalid($"{Section}:Sqlite:Path must not be empty");
        }

        if (IsPostgres && string.IsNullOrWhiteSpace(Postgres.ConnectionString))
        {
            throw TrellisException.Invalid($"{Section}:Postgres:ConnectionString is required when {Section}:Provider is Postgres");
        }

        return this;
    }

    public sealed class SqliteSettings
    {
        /// <summary>The SQLite file of grain state and reminders.</summary>
        public string Path { get; set; } = "data/trellis.db";
    }

    public sealed class PostgresSettings
    {
        public string? ConnectionString { get; set; }
    }
}
