using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Trellis.Grpc.Server;
using Trellis.Grpc.Tests.V1;

namespace Trellis.Grpc.Tests.Transcoding;

/// <summary>The transcoding test service: handlers echo what was bound so tests can see it.</summary>
public static class LibraryService
{
    public static GrpcServiceDefinition Create()
    {
        var builder = new GrpcServiceBuilder(LibraryReflection.Descriptor.Services.Single(static s => s.Name == "Library"));
        return builder
            .AddUnary(builder.Method<GetShelfRequest, Shelf>("GetShelf"), static (request, context) =>
            {
                Fail(request.FailCode);
                return Task.FromResult(new Shelf
                {
                    Id = request.ShelfId,
                    Genre = request.Genre,
                    Tags = { request.Tags },
                    Theme = string.Join(
                        "|",
                        request.Filter?.Author ?? "-",
                        request.Filter?.MinPages ?? 0,
                        request.Verbose,
                        request.Limit?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-",
                        request.Since?.ToDateTimeOffset().ToString("O", System.Globalization.CultureInfo.InvariantCulture) ?? "-"),
                });
            })
            .AddUnary(builder.Method<GetBookRequest, Book>("GetBook"), static (request, context) => Task.FromResult(new Book { Title = request.Name }))
            .AddUnary(builder.Method<CreateShelfRequest, Shelf>("CreateShelf"), static (request, context) =>
            {
                var shelf = request.Shelf?.Clone() ?? new Shelf();
                shelf.Theme += "|" + request.RequestId;
                context.ResponseHeaders.Add("x-created", "yes");
                return Task.FromResult(shelf);
            })
            .AddUnary(builder.Method<UpdateBookRequest, Book>("UpdateBook"), static (request, context) => Task.FromResult(request.Book ?? new Book()))
            .AddUnary(builder.Method<SearchRequest, SearchResponse>("SearchBooks"), static (request, context) =>
            {
                var response = new SearchResponse { Total = request.PageSize };
                for (var i = 0; i < request.PageSize; i++)
                {
                    response.Books.Add(new Book { Id = i, Title = request.Query });
                }

                return Task.FromResult(response);
            })
            .AddUnary(builder.Method<GetShelfRequest, Shelf>("DeleteShelf"), static (request, context) => Task.FromResult(new Shelf { Id = request.ShelfId, Theme = "deleted" }))
            .AddUnary(builder.Method<GetShelfRequest, Shelf>("ArchiveShelf"), static (request, context) => Task.FromResult(new Shelf { Id = request.ShelfId, Theme = "archived" }))
            .AddServerStreaming(builder.Method<ListBooksRequest, Book>("ListBooks"), static async (request, responses, context) =>
            {
                for (var i = 0; i < request.Count; i++)
                {
                    await responses.WriteAsync(new Book { ShelfId = request.ShelfId, Id = i, Title = "book " + i });
                }

                Fail(request.FailCode);
            })
            .AddClientStreaming(builder.Method<Book, Shelf>("UploadBooks"), static async (books, context) =>
            {
                var shelf = new Shelf();
                await foreach (var book in books)
                {
                    shelf.Tags.Add(book.Title);
                }

                return shelf;
            })
            .Build();
    }

    private static void Fail(int code)
    {
        switch (code)
        {
            case 0:
                return;
            case 2:
                throw new InvalidOperationException("secret internals");
            case 9:
                // Rich error details travel in grpc-status-details-bin and become google.rpc.Status.details.
                var details = new Google.Rpc.Status { Code = 9, Message = "precondition", Details = { Any.Pack(new StringValue { Value = "shelf is locked" }) } };
                throw new GrpcException(StatusCode.FailedPrecondition, "precondition", new Metadata().Add("grpc-status-details-bin", details.ToByteArray()));
            default:
                throw new GrpcException((StatusCode)code, $"failed with {code}");
        }
    }
}
