package io.lorica.policy.impl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.Reader;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import io.lorica.api.policy.AdapterSettings;
import io.lorica.api.policy.AdapterWeight;
import io.lorica.api.policy.PromptSettings;
import io.lorica.config.LayeredConfiguration;
import org.junit.jupiter.api.Test;

class ScalePolicyComponentTest {

    private static ScalePolicyComponent component(Map<String, Object> properties) {
        ScalePolicyComponent component = new ScalePolicyComponent();
        component.activate(properties);
        return component;
    }

    @Test
    void defaults_matchTheMetatypeDefinitionKeyForKey() {
        Map<String, Object> metatype = new LinkedHashMap<>();
        for (Method method : ScalePolicyComponent.Config.class.getDeclaredMethods()) {
            metatype.put(method.getName().replace('_', '.'), method.getDefaultValue());
        }
        assertEquals(PolicyConfig.DEFAULTS, metatype);
    }

    @Test
    void shippedCfgFile_declaresEveryKeyWithItsDefault() throws IOException {
        Properties cfg = new Properties();
        try (Reader reader = Files.newBufferedReader(Path.of("../../config/io.lorica.policy.cfg"))) {
            cfg.load(reader);
        }
        assertEquals(PolicyConfig.DEFAULTS.keySet(), cfg.stringPropertyNames());
        LayeredConfiguration fromFile = LayeredConfiguration.of(PolicyConfig.SCOPE, PolicyConfig.DEFAULTS,
                new LinkedHashMap<>(Map.copyOf((Map) cfg)), new Properties(), Map.of());
        assertEquals(PolicyConfig.from(LayeredConfiguration.of(PolicyConfig.SCOPE, PolicyConfig.DEFAULTS, Map.of(),
                new Properties(), Map.of())).limits(), PolicyConfig.from(fromFile).limits());
    }

    @Test
    void configuredPreset_isUsableAndReplacesOnModification() {
        ScalePolicyComponent policy = component(Map.of("presets", "MINE:1,0,0,0,0,0,0,0,1,1,1,1,0,0,0,0,0"));
        AdapterSettings settings = policy.parse("a:lbw=MINE");
        AdapterWeight.BlockVector vector = (AdapterWeight.BlockVector) settings.weight("a").orElseThrow();
        assertEquals(1.0, vector.ratios().get(8));
        policy.modified(Map.of());
        assertThrows(IllegalArgumentException.class, () -> policy.parse("a:lbw=MINE"));
        assertEquals(0.5, ((AdapterWeight.BlockVector) policy.parse("a:lbw=ALL0.5").weight("a").orElseThrow()).ratios().get(0));
    }

    @Test
    void limits_applyToParseAndPrompts() {
        ScalePolicyComponent policy = component(Map.of("max.active.adapters", 1, "weight.max", 2.0));
        assertThrows(IllegalArgumentException.class, () -> policy.parse("a:1,b:1"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> policy.parse("a:3"));
        assertTrue(e.getMessage().contains("weight.max"), e.getMessage());
        PromptSettings prompt = policy.parsePrompt("a <lora:a:1.5> cat");
        assertEquals("a cat", prompt.prompt());
        assertEquals(List.of("a"), prompt.settings().names());
    }

    @Test
    void badPresetConfiguration_failsActivationNamingTheKey() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> component(Map.of("presets", "SHORT:1,0,1")));
        assertTrue(e.getMessage().contains("presets"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> component(Map.of("presets", "no-colon")));
    }

    @Test
    void format_isReadBackByParse() {
        ScalePolicyComponent policy = component(Map.of());
        AdapterSettings settings = policy.parse("{\"adapters\": {\"a\": {\"text_encoder\": 0.5, \"unet\": {\"down\": 0.9}}}, \"scale\": 0.8}");
        assertEquals(settings, policy.parse(policy.format(settings)));
    }
}
