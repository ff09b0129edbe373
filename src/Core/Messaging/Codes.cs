namespace Trellis.Core.Messaging;

/// <summary>The reply codes of the kernel (Gilmour's set, plus 503 for a full queue or an unreachable handler).</summary>
public static class Codes
{
    public const int Ok = 200;

    /// <summary>The request itself was malformed (used by compositions and the gateway).</summary>
    public const int BadRequest = 400;

    /// <summary>No subscriber for the topic: answered at once.</summary>
    public const int NotFound = 404;

    /// <summary>The requester gave up waiting (requester-side timeout).</summary>
    public const int RequestTimeout = 499;

    /// <summary>The handler threw.</summary>
    public const int HandlerError = 500;

    /// <summary>A queue on the path was full: back-pressure refused the message.</summary>
    public const int QueueFull = 503;

    /// <summary>The handler could not be reached: a gateway found its node's port closed, lost the connection before the
    /// answer, or could not connect in time. The same code as <see cref="QueueFull"/>: either way nobody could take the
    /// message, and it is not the handler's own error (500).</summary>
    public const int Unavailable = 503;

    /// <summary>The handler ran past its own timeout (handler-side); its late reply is discarded.</summary>
    public const int HandlerTimeout = 504;

    /// <summary>Codes at or above this are reported on the error channel.</summary>
    public const int ErrorThreshold = 300;

    public static bool IsError(int code) => code >= ErrorThreshold;
}
