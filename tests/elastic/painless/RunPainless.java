import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.opensearch.common.settings.Settings;
import org.opensearch.common.xcontent.XContentFactory;
import org.opensearch.common.xcontent.XContentHelper;
import org.opensearch.common.xcontent.json.JsonXContent;
import org.opensearch.core.xcontent.XContentBuilder;
import org.opensearch.painless.PainlessScriptEngine;
import org.opensearch.painless.spi.Whitelist;
import org.opensearch.script.IngestScript;

/**
 * Runs an ingest script (file, arg 1) over each ctx of {"docs": [...]} (file,
 * arg 2) and prints {"docs": [...]}: each ctx as the script left it, or
 * {"error": ...}.  The script is compiled by OpenSearch's Painless (a fork of
 * Elasticsearch 7.10's), because no Elasticsearch 8 Painless can be had here:
 * it checks the script's syntax, types and logic, not Elasticsearch 8.14's
 * allow-list.
 */
public class RunPainless {
    @SuppressWarnings("unchecked")
    public static void main(String[] args) throws Exception {
        String source = Files.readString(Path.of(args[0]));
        String input = Files.readString(Path.of(args[1]));
        PainlessScriptEngine engine = new PainlessScriptEngine(Settings.EMPTY,
            Map.of(IngestScript.CONTEXT, Whitelist.BASE_WHITELISTS));
        IngestScript.Factory factory = engine.compile("delivery-fields", source, IngestScript.CONTEXT, Map.of());
        Map<String, Object> in = XContentHelper.convertToMap(JsonXContent.jsonXContent, input, false);
        List<Object> out = new ArrayList<>();
        for (Object o : (List<Object>) in.get("docs")) {
            Map<String, Object> ctx = (Map<String, Object>) o;
            try {
                factory.newInstance(Map.of()).execute(ctx);
                out.add(ctx);
            } catch (Exception e) {
                out.add(Map.of("error", e.toString()));
            }
        }
        XContentBuilder b = XContentFactory.jsonBuilder();
        b.map(Map.of("docs", out));
        System.out.println(b.toString());
    }
}
