package io.lorica.policy.impl;

import java.util.Map;

import io.lorica.api.ModelFamily;
import io.lorica.api.adapter.LoraAdapter;
import io.lorica.api.policy.AdapterSettings;
import io.lorica.api.policy.EffectiveScales;
import io.lorica.api.policy.PromptSettings;
import io.lorica.api.policy.ScalePolicy;
import io.lorica.config.LayeredConfiguration;
import io.lorica.policy.expand.ScaleExpander;
import io.lorica.policy.settings.PromptTags;
import io.lorica.policy.settings.SettingsFormatter;
import io.lorica.policy.settings.SettingsParser;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Modified;
import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.Designate;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Declarative Services wrapper of the policy: parsing (JSON, compact text, prompt tags) with the configured presets,
 * the configured limits, and expansion to effective scales. A configuration change replaces one immutable state
 * that every call reads once, so a change applies to the next call and never to half of one.
 */
@Component(service = ScalePolicy.class, configurationPid = PolicyConfig.PID)
@Designate(ocd = ScalePolicyComponent.Config.class)
public final class ScalePolicyComponent implements ScalePolicy {

    private static final Logger LOG = LoggerFactory.getLogger(ScalePolicyComponent.class);

    @ObjectClassDefinition(name = "Lorica adapter-scale policy",
            description = "Limits and A1111 block-weight presets of the adapter-scale policy. System properties lorica.policy.<key> "
                    + "and environment variables LORICA_POLICY_<KEY> override these values.")
    @interface Config {
        @AttributeDefinition(name = "Most active adapters", description = "Most adapters one request or set_adapters call may activate", min = "1")
        int max_active_adapters() default 8;

        @AttributeDefinition(name = "Lowest weight", description = "Lowest adapter weight, block ratio or override allowed")
        double weight_min() default -10.0;

        @AttributeDefinition(name = "Highest weight", description = "Highest adapter weight, block ratio or override allowed")
        double weight_max() default 10.0;

        @AttributeDefinition(name = "Block-weight presets",
                description = "Extra or replacing presets: NAME:v1,v2,... entries separated by ';' (12 or 20 values for SDXL, 17 or 26 for SD 1.5)")
        String presets() default "";
    }

    /** Everything a call needs, replaced as a whole. */
    private record State(PolicyConfig config, SettingsParser parser, SettingsFormatter formatter) {
        static State of(PolicyConfig config) {
            return new State(config, new SettingsParser(config.presets()), new SettingsFormatter(config.presets()));
        }
    }

    private final ScaleExpander expander = new ScaleExpander();
    private volatile State state;

    /** A policy with the default limits and presets, for use without a container. */
    public static ScalePolicyComponent withDefaults() {
        ScalePolicyComponent policy = new ScalePolicyComponent();
        policy.activate(Map.of());
        return policy;
    }

    @Activate
    void activate(Map<String, Object> properties) {
        state = State.of(config(properties));
    }

    @Modified
    void modified(Map<String, Object> properties) {
        State next = State.of(config(properties));
        state = next;
        LOG.info("adapter-scale policy reconfigured: {}, presets {}", next.config().limits(), next.config().presets().names());
    }

    private static PolicyConfig config(Map<String, Object> properties) {
        LayeredConfiguration layered = LayeredConfiguration.of(PolicyConfig.SCOPE, PolicyConfig.DEFAULTS, properties);
        if (!layered.unknownKeys().isEmpty()) {
            LOG.warn("adapter-scale policy: ignoring unknown configuration keys {} of {}; known keys are {}",
                    layered.unknownKeys(), PolicyConfig.PID, PolicyConfig.DEFAULTS.keySet());
        }
        return PolicyConfig.from(layered);
    }

    @Override
    public EffectiveScales resolve(AdapterSettings settings, Map<String, LoraAdapter> loaded, ModelFamily family) {
        State current = state;
        current.config().limits().check(settings);
        return expander.expand(settings, loaded, family);
    }

    @Override
    public AdapterSettings parse(String text) {
        State current = state;
        AdapterSettings settings = current.parser().parse(text);
        current.config().limits().check(settings);
        return settings;
    }

    @Override
    public String format(AdapterSettings settings) {
        return state.formatter().toJson(settings);
    }

    @Override
    public PromptSettings parsePrompt(String prompt) {
        State current = state;
        PromptTags.Extraction extraction = PromptTags.extract(prompt, current.config().presets());
        current.config().limits().check(extraction.settings());
        return new PromptSettings(extraction.prompt(), extraction.settings(), extraction.warnings());
    }
}
