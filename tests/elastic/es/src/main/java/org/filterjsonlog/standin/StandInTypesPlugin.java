package org.filterjsonlog.standin;

import java.util.Map;

import org.elasticsearch.index.mapper.KeywordFieldMapper;
import org.elasticsearch.index.mapper.Mapper;
import org.elasticsearch.index.mapper.NumberFieldMapper;
import org.elasticsearch.index.mapper.TextFieldMapper;
import org.elasticsearch.plugins.MapperPlugin;
import org.elasticsearch.plugins.Plugin;

/**
 * Mapping types that filter-jsonlog's index template and the stack's
 * component templates name, for a node built from the only Elasticsearch 8
 * distribution on Maven Central (integ-test-zip), which has neither the
 * mapper-extras module nor the X-Pack mapper plugins.
 *
 * Each stand-in is the closest server type, so a mapping PUT that a stock
 * cluster accepts is accepted here and documents index and aggregate the same
 * way; the mapping the node then reports names the server type.  What a stand-in
 * does not do is listed in tests/elastic/es/README.md and checked by
 * tests/elastic/test_chain.py, which maps declared types through STAND_INS.
 */
public class StandInTypesPlugin extends Plugin implements MapperPlugin {

    @Override
    public Map<String, Mapper.TypeParser> getMappers() {
        return Map.of(
            // X-Pack constant_keyword: one value per index.  A keyword holds the
            // same terms; only the check that every document agrees is lost.
            "constant_keyword", (name, node, ctx) -> {
                node.remove("value");
                return KeywordFieldMapper.PARSER.parse(name, node, ctx);
            },
            // X-Pack wildcard: a keyword answers the same term, prefix and
            // wildcard queries (slower on long values, which a test never has).
            // Both are the server's own parsers, so ecs@mappings may name them in
            // multi-fields.
            "wildcard", KeywordFieldMapper.PARSER,
            // mapper-extras match_only_text: text without positions or scores.
            "match_only_text", TextFieldMapper.PARSER,
            // mapper-extras scaled_float: a double keeps every value a
            // scaled_float would round to 1/scaling_factor.
            "scaled_float", (name, node, ctx) -> {
                node.remove("scaling_factor");
                return NumberFieldMapper.NumberType.DOUBLE.parser().parse(name, node, ctx);
            }
        );
    }
}
