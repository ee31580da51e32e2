package org.filterjsonlog.standin;

import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import java.util.function.Supplier;

import org.elasticsearch.cluster.metadata.IndexNameExpressionResolver;
import org.elasticsearch.cluster.node.DiscoveryNodes;
import org.elasticsearch.common.io.stream.NamedWriteableRegistry;
import org.elasticsearch.common.settings.ClusterSettings;
import org.elasticsearch.common.settings.IndexScopedSettings;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.common.settings.SettingsFilter;
import org.elasticsearch.features.NodeFeature;

import org.elasticsearch.index.mapper.KeywordFieldMapper;
import org.elasticsearch.index.mapper.Mapper;
import org.elasticsearch.index.mapper.NumberFieldMapper;
import org.elasticsearch.index.mapper.TextFieldMapper;
import org.elasticsearch.plugins.ActionPlugin;
import org.elasticsearch.plugins.MapperPlugin;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.rest.RestController;
import org.elasticsearch.rest.RestHandler;

/**
 * What a node built from the only Elasticsearch 8 distribution on Maven
 * Central (integ-test-zip) lacks and filter-jsonlog's chain needs: the mapping
 * types that our index template and the stack's component templates name
 * (mapper-extras module, X-Pack mapper plugins), and GET / (rest-root module,
 * see RootStandIn).
 *
 * Each stand-in is the closest server type, so a mapping PUT that a stock
 * cluster accepts is accepted here and documents index and aggregate the same
 * way; the mapping the node then reports names the server type.  What a stand-in
 * does not do is listed in tests/elastic/es/README.md and checked by
 * tests/elastic/test_chain.py, which maps declared types through STAND_INS.
 */
public class StandInTypesPlugin extends Plugin implements MapperPlugin, ActionPlugin {

    @Override
    public Collection<RestHandler> getRestHandlers(Settings settings, NamedWriteableRegistry namedWriteableRegistry,
            RestController restController, ClusterSettings clusterSettings, IndexScopedSettings indexScopedSettings,
            SettingsFilter settingsFilter, IndexNameExpressionResolver indexNameExpressionResolver,
            Supplier<DiscoveryNodes> nodesInCluster, Predicate<NodeFeature> clusterSupportsFeature) {
        return List.of(new RootStandIn(settings));
    }

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
