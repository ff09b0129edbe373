using Microsoft.Extensions.Logging;
using Trellis.Core.Transport;
using Trellis.Transport.RabbitMq;

namespace Trellis.Hosting.Messaging;

/// <summary>Builds the RabbitMQ transport from configuration.</summary>
internal static class RabbitMqTransportFactory
{
    public static ITransport Create(string uri, ILoggerFactory loggers) =>
        new RabbitMqTransport(new RabbitMqOptions { Uri = new Uri(uri) }, loggers);
}
