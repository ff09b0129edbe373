namespace Trellis.Grpc.Tests.Framing;

public sealed class StatusMappingTests
{
    [Theory]
    [InlineData(StatusCode.OK, 200)]
    [InlineData(StatusCode.Cancelled, 499)]
    [InlineData(StatusCode.Unknown, 500)]
    [InlineData(StatusCode.InvalidArgument, 400)]
    [InlineData(StatusCode.DeadlineExceeded, 504)]
    [InlineData(StatusCode.NotFound, 404)]
    [InlineData(StatusCode.AlreadyExists, 409)]
    [InlineData(StatusCode.PermissionDenied, 403)]
    [InlineData(StatusCode.ResourceExhausted, 429)]
    [InlineData(StatusCode.FailedPrecondition, 400)]
    [InlineData(StatusCode.Aborted, 409)]
    [InlineData(StatusCode.OutOfRange, 400)]
    [InlineData(StatusCode.Unimplemented, 501)]
    [InlineData(StatusCode.Internal, 500)]
    [InlineData(StatusCode.Unavailable, 503)]
    [InlineData(StatusCode.DataLoss, 500)]
    [InlineData(StatusCode.Unauthenticated, 401)]
    public void Grpc_to_http(StatusCode code, int http) => Assert.Equal(http, StatusMapping.ToHttpStatus(code));

    [Fact]
    public void Every_status_with_a_unique_http_status_maps_back_to_itself()
    {
        StatusCode[] unique = [StatusCode.OK, StatusCode.Cancelled, StatusCode.InvalidArgument, StatusCode.DeadlineExceeded, StatusCode.NotFound,
            StatusCode.PermissionDenied, StatusCode.ResourceExhausted, StatusCode.Unimplemented, StatusCode.Unavailable, StatusCode.Unauthenticated];
        foreach (var code in unique)
        {
            Assert.Equal(code, StatusMapping.FromHttpStatus(StatusMapping.ToHttpStatus(code)));
        }
    }

    [Theory]
    [InlineData(400, StatusCode.Internal)]
    [InlineData(401, StatusCode.Unauthenticated)]
    [InlineData(403, StatusCode.PermissionDenied)]
    [InlineData(404, StatusCode.Unimplemented)]
    [InlineData(429, StatusCode.Unavailable)]
    [InlineData(502, StatusCode.Unavailable)]
    [InlineData(503, StatusCode.Unavailable)]
    [InlineData(504, StatusCode.Unavailable)]
    [InlineData(500, StatusCode.Unknown)]
    public void Transport_http_status_seen_by_a_client(int http, StatusCode code) => Assert.Equal(code, StatusMapping.FromTransportHttpStatus(http));
}
