using System.Net;
using Microsoft.AspNetCore.Http;
using Trellis.Core.Nodes;
using Trellis.Api.Dashboard;
using Trellis.Api.Tests.Infrastructure;

namespace Trellis.Api.Tests;

/// <summary>The Orleans dashboard at /dashboard: served to loopback callers; from elsewhere only with the admin token.</summary>
public sealed class DashboardTests
{
    [Fact]
    public async Task The_dashboard_is_served_on_the_http_port_to_a_loopback_caller()
    {
        await using var silo = await TestGateway.StartAsync();
        var page = await silo.GetAsync("/dashboard/", token: null);
        Assert.True(page.Status == 200, $"GET /dashboard/: {page.Status} {page.Body[..Math.Min(200, page.Body.Length)]}");
        Assert.Contains("<html", page.Body, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData(null, false)]
    [InlineData("Bearer wrong-token-0123456789abcdef", false)]
    [InlineData("Bearer " + TestGateway.AdminToken, true)]
    [InlineData("Basic " + "b3BzOmFkbWluLXRva2VuLWZvci10ZXN0cy0wMTIzNDU2Nzg5", true)]   // ops:admin-token-for-tests-0123456789
    [InlineData("Basic not-base64!", false)]
    public void Off_loopback_the_admin_token_is_needed(string? authorization, bool allowed)
    {
        var context = new DefaultHttpContext();
        context.Connection.RemoteIpAddress = IPAddress.Parse("192.0.2.7");
        if (authorization is not null)
        {
            context.Request.Headers.Authorization = authorization;
        }

        Assert.Equal(allowed, DashboardEndpoints.Allowed(context, NodeCredentials.Hash(TestGateway.AdminToken)));
    }

    [Fact]
    public void Without_an_admin_token_only_loopback_callers_get_in()
    {
        var remote = new DefaultHttpContext();
        remote.Connection.RemoteIpAddress = IPAddress.Parse("192.0.2.7");
        remote.Request.Headers.Authorization = "Bearer anything-at-all-0123456789";
        Assert.False(DashboardEndpoints.Allowed(remote, adminHash: null));

        var local = new DefaultHttpContext();
        local.Connection.RemoteIpAddress = IPAddress.IPv6Loopback;
        Assert.True(DashboardEndpoints.Allowed(local, adminHash: null));
    }
}
