using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Trellis.Storage.Postgres;

namespace Trellis.Hosting.Cluster;

/// <summary>Applies Orleans' PostgreSQL schema (idempotent) before the silo or client starts, so a fresh database just works.</summary>
internal sealed partial class PostgresSchemaHost(string connectionString, ILogger<PostgresSchemaHost> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var applied = await OrleansSchema.ApplyAsync(connectionString, cancellationToken);
        if (applied.Count > 0)
        {
            LogApplied(logger, string.Join(", ", applied));
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Information, Message = "Applied Orleans' PostgreSQL schema: {Parts}")]
    private static partial void LogApplied(ILogger logger, string parts);
}
