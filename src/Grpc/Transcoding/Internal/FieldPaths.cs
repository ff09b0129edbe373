using Google.Protobuf.Reflection;

namespace Trellis.Grpc.Transcoding.Internal;

/// <summary>Resolves dotted field paths ("book.shelf_id" or "book.shelfId") against a message descriptor.</summary>
internal static class FieldPaths
{
    /// <summary>The fields along the path, or null when some name does not exist or a non-last field is not a singular message.</summary>
    public static FieldDescriptor[]? Resolve(MessageDescriptor root, string path)
    {
        var names = path.Split('.');
        var fields = new FieldDescriptor[names.Length];
        var current = root;
        for (var i = 0; i < names.Length; i++)
        {
            var field = Find(current, names[i]);
            if (field is null)
            {
                return null;
            }

            fields[i] = field;
            if (i < names.Length - 1)
            {
                if (field.FieldType != FieldType.Message || field.IsRepeated || field.IsMap)
                {
                    return null;
                }

                current = field.MessageType;
            }
        }

        return fields;
    }

    /// <summary>The canonical (proto name) form of a resolved path, used to compare paths written either way.</summary>
    public static string Canonical(FieldDescriptor[] fields) => string.Join('.', fields.Select(static f => f.Name));

    private static FieldDescriptor? Find(MessageDescriptor message, string name)
    {
        var field = message.FindFieldByName(name);
        if (field is not null)
        {
            return field;
        }

        foreach (var candidate in message.Fields.InDeclarationOrder())
        {
            if (candidate.JsonName == name)
            {
                return candidate;
            }
        }

        return null;
    }
}
