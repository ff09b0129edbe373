using System.Net;
using Microsoft.AspNetCore.Http;
using Trellis.Api.Errors;
using Trellis.Api.Proxy;
using Trellis.Core.Errors;
using Trellis.Core.Nodes;

namespace Trellis.Api.Operator.Internal;

/// <summary>Who may use the operator routes: the holder of the admin token when one is configured; without one, loopback
/// callers only (the listener's own machine), as the dashboard.</summary>
internal sealed class OperatorAccess(SecurityOptions security)
{
    private readonly byte[]? _adminHash = security.AdminTokenHash();

    /// <summary>Throws 401 for a missing or wrong admin token, 403 for a caller off loopback when there is no admin token.</summary>
    public void Check(HttpContext context, string what)
    {
        if (_adminHash is not null)
        {
            var token = ProxyOperations.BearerToken(context.Request.Headers.Authorization);
            if (token.Length == 0 || !NodeCredentials.Matches(token, _adminHash))
            {
                throw ApiException.Unauthenticated($"{what} needs the admin token: Authorization: Bearer <Trellis:Security:AdminToken>", "invalid_token");
            }

            return;
        }

        if (context.Connection.RemoteIpAddress is not { } remote || !IPAddress.IsLoopback(remote))
        {
            throw new TrellisException(ErrorKind.PermissionDenied,
                $"{what} is served to loopback callers only (set Trellis:Security:AdminToken to open it to others with that token)");
        }
    }
}
